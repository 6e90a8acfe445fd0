import { expect, test } from "vitest";
import { normalizeBaseUrl } from "../../mod.ts";

test.each([
  [undefined, "https://analytex.userpilot.io"],
  ["us", "https://analytex.userpilot.io"],
  ["EU", "https://analytex-eu.userpilot.io"],
  ["https://analytex.userpilot.io/", "https://analytex.userpilot.io"],
  ["https://analytex.userpilot.io/v1", "https://analytex.userpilot.io"],
  ["https://analytex.userpilot.io/v1/", "https://analytex.userpilot.io"],
  ["https://acme.userpilot.io", "https://acme.userpilot.io"],
  ["https://proxy.example.com/userpilot/v1/", "https://proxy.example.com/userpilot"],
  ["http://127.0.0.1:4010", "http://127.0.0.1:4010"],
  ["http://localhost:4010/", "http://localhost:4010"],
  ["http://sandbox.localhost", "http://sandbox.localhost"],
  // Only the misspelled Userpilot hosts are refused, not every host containing the word.
  ["https://analytix-proxy.example.com/up", "https://analytix-proxy.example.com/up"],
  ["https://analytix.acme.internal", "https://analytix.acme.internal"],
])("normalizes %s", (input, expected) => {
  expect(normalizeBaseUrl(input)).toBe(expected);
});

test.each([
  ["not a url", /could not parse/],
  ["https://analytix.userpilot.io", /documentation typo; Userpilot's host is "analytex.userpilot.io"/],
  [
    "https://ANALYTIX-EU.userpilot.io/v1",
    /documentation typo; Userpilot's host is "analytex-eu.userpilot.io"/,
  ],
  ["http://analytex.userpilot.io", /must use https/],
  ["ftp://example.com", /must use https/],
  ["https://user:pass@example.com", /credentials/],
  ["https://example.com/?x=1", /query/],
])("refuses %s", (input, message) => {
  expect(() => normalizeBaseUrl(input)).toThrow(message);
});
