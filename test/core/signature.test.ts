import { describe, expect, test } from "vitest";
import { signPayload, verifySignature } from "../../mod.ts";

const body = '{"user_id":"user_123"}';
const now = 1_800_000_000;

describe("signatures", () => {
  test("the header format is v1=<64 hex> over '<timestamp>.<body>'", async () => {
    const headers = await signPayload("secret", body, now);
    expect(headers["X-Signature-Timestamp"]).toBe(String(now));
    expect(headers["X-Signature"]).toMatch(/^v1=[0-9a-f]{64}$/);
    // Cross-check with an independent HMAC over the documented message.
    const key = await crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode("secret"),
      { name: "HMAC", hash: "SHA-256" },
      false,
      [
        "sign",
      ],
    );
    const mac = new Uint8Array(
      await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${now}.${body}`)),
    );
    expect(headers["X-Signature"]).toBe(
      `v1=${Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("")}`,
    );
  });

  test("bytes and text sign the same", async () => {
    expect(await signPayload("s", new TextEncoder().encode(body), now)).toEqual(
      await signPayload("s", body, now),
    );
  });

  test("verifies with any active secret, from Headers or a plain record", async () => {
    const signed = await signPayload("new", body, now);
    expect(await verifySignature(["old", "new"], body, new Headers(signed), { now })).toEqual({
      valid: true,
      timestamp: now,
      signature: signed["X-Signature"].slice(3),
    });
    const lower = {
      "x-signature-timestamp": signed["X-Signature-Timestamp"],
      "x-signature": signed["X-Signature"],
    };
    expect((await verifySignature("new", body, lower, { now })).valid).toBe(true);
  });

  test("accepts one of several signatures in the header (sender-side rotation)", async () => {
    const a = await signPayload("a", body, now);
    const b = await signPayload("b", body, now);
    const headers = { ...a, "X-Signature": `${a["X-Signature"]}, ${b["X-Signature"]}` };
    expect((await verifySignature("b", body, headers, { now })).valid).toBe(true);
  });

  test.each(
    [
      ["changed body", "secret", `${body} `, 0, "mismatch"],
      ["wrong secret", "other", body, 0, "mismatch"],
      ["301 s late", "secret", body, 301, "expired"],
      ["301 s early", "secret", body, -301, "expired"],
    ] as const,
  )("refuses a %s", async (_, secret, sentBody, skew, reason) => {
    const headers = await signPayload("secret", body, now);
    expect(await verifySignature(secret, sentBody, headers, { now: now + skew })).toEqual({
      valid: false,
      reason,
    });
  });

  test("300 s either way is still inside the window", async () => {
    const headers = await signPayload("secret", body, now);
    expect((await verifySignature("secret", body, headers, { now: now + 300 })).valid).toBe(true);
    expect((await verifySignature("secret", body, headers, { now: now - 300 })).valid).toBe(true);
  });

  test("a changed timestamp fails even inside the window", async () => {
    const headers = await signPayload("secret", body, now);
    const moved = { ...headers, "X-Signature-Timestamp": String(now + 1) };
    expect(await verifySignature("secret", body, moved, { now })).toEqual({
      valid: false,
      reason: "mismatch",
    });
  });

  test.each([
    [{}, "missing"],
    [{ "X-Signature-Timestamp": String(now) }, "missing"],
    [{ "X-Signature-Timestamp": "abc", "X-Signature": `v1=${"0".repeat(64)}` }, "malformed"],
    [{ "X-Signature-Timestamp": String(now), "X-Signature": "v1=zz" }, "malformed"],
    [{ "X-Signature-Timestamp": String(now), "X-Signature": `v0=${"0".repeat(64)}` }, "malformed"],
  ])("refuses headers %j as %s", async (headers, reason) => {
    expect(await verifySignature("secret", body, headers, { now })).toEqual({ valid: false, reason });
  });

  test("more than three signatures in one header is malformed (each costs a hash of the body)", async () => {
    const a = await signPayload("a", body, now);
    const many = {
      ...a,
      "X-Signature": Array(3).fill(`v1=${"0".repeat(64)}`).concat(a["X-Signature"]).join(","),
    };
    expect(await verifySignature("a", body, many, { now })).toEqual({ valid: false, reason: "malformed" });
  });

  test("no active secret means nothing verifies", async () => {
    const headers = await signPayload("secret", body, now);
    expect((await verifySignature([], body, headers, { now })).valid).toBe(false);
    expect((await verifySignature([""], body, headers, { now })).valid).toBe(false);
  });
});
