import { Webhook } from "standardwebhooks";
import { describe, expect, test, vi } from "vitest";
import { signingSecretProblem, signPayload, verifySignature } from "../../mod.ts";

const body = '{"user_id":"user_123"}';
const now = 1_800_000_000;
const id = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";
// whsec_ + base64 of 32 bytes: "a-secret-of-thirty-two-bytes-ok!" and another.
const SECRET = "whsec_YS1zZWNyZXQtb2YtdGhpcnR5LXR3by1ieXRlcy1vayE=";
const OTHER = "whsec_YW5vdGhlci1zZWNyZXQtb2YtMzItYnl0ZXMtLS0tLSE=";

describe("signPayload", () => {
  test("the headers are webhook-id, webhook-timestamp and v1,<base64 HMAC-SHA256 of '<id>.<timestamp>.<body>'>", async () => {
    const headers = await signPayload(SECRET, body, { id, timestamp: now });
    expect(headers["webhook-id"]).toBe(id);
    expect(headers["webhook-timestamp"]).toBe(String(now));
    expect(headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    // Cross-check with an independent HMAC over the documented message, keyed by the secret's bytes.
    const keyBytes = Uint8Array.from(atob(SECRET.slice(6)), (c) => c.charCodeAt(0));
    const key = await crypto.subtle.importKey("raw", keyBytes, { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
    ]);
    const mac = new Uint8Array(
      await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${id}.${now}.${body}`)),
    );
    expect(headers["webhook-signature"]).toBe(`v1,${btoa(String.fromCharCode(...mac))}`);
  });

  test("verifies with the standardwebhooks package", async () => {
    const headers = await signPayload(SECRET, body);
    expect(new Webhook(SECRET).verify(body, headers)).toEqual({ user_id: "user_123" });
  });

  test("bytes and text sign the same; the id defaults to a fresh msg_ id", async () => {
    expect(await signPayload(SECRET, new TextEncoder().encode(body), { id, timestamp: now })).toEqual(
      await signPayload(SECRET, body, { id, timestamp: now }),
    );
    const [a, b] = [await signPayload(SECRET, body), await signPayload(SECRET, body)];
    expect(a["webhook-id"]).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(a["webhook-id"]).not.toBe(b["webhook-id"]);
  });

  test.each([
    ["no prefix", "YS1zZWNyZXQtb2YtdGhpcnR5LXR3by1ieXRlcy1vayE="],
    ["not base64", "whsec_not base64!"],
    ["too short a key", `whsec_${btoa("23-bytes-is-not-enough")}`],
    ["too long a key", `whsec_${btoa("x".repeat(65))}`],
    ["empty", ""],
  ])("refuses a secret with %s, without quoting it", async (_, secret) => {
    expect(signingSecretProblem(secret)).toMatch(/\S/);
    expect(signingSecretProblem(secret)).not.toContain(secret.slice(6) || "\u0000");
    await expect(signPayload(secret, body)).rejects.toThrow(TypeError);
  });

  test("refuses an id that is not 1 to 255 visible ASCII characters", async () => {
    for (const bad of ["", "has space", "x".repeat(256), "é"]) {
      await expect(signPayload(SECRET, body, { id: bad })).rejects.toThrow(TypeError);
    }
  });
});

describe("verifySignature", () => {
  test("accepts what the standardwebhooks package signs", async () => {
    const timestamp = Math.floor(Date.now() / 1000);
    const headers = {
      "webhook-id": id,
      "webhook-timestamp": String(timestamp),
      "webhook-signature": new Webhook(SECRET).sign(id, new Date(timestamp * 1000), body),
    };
    expect(await verifySignature(SECRET, body, headers)).toEqual({ valid: true, id, timestamp });
  });

  test("verifies with any active secret, from Headers or a plain record in any case", async () => {
    const signed = await signPayload(SECRET, body, { id, timestamp: now });
    expect(await verifySignature([OTHER, SECRET], body, new Headers(signed), { now })).toEqual({
      valid: true,
      id,
      timestamp: now,
    });
    const upper = Object.fromEntries(
      Object.entries(signed).map(([name, value]) => [name.toUpperCase(), value]),
    );
    expect((await verifySignature(SECRET, body, upper, { now })).valid).toBe(true);
  });

  test.each(
    [
      ["changed body", SECRET, `${body} `, 0, "mismatch"],
      ["wrong secret", OTHER, body, 0, "mismatch"],
      ["301 s late", SECRET, body, 301, "expired"],
      ["301 s early", SECRET, body, -301, "expired"],
    ] as const,
  )("refuses a %s", async (_, secret, sentBody, skew, reason) => {
    const headers = await signPayload(SECRET, body, { id, timestamp: now });
    expect(await verifySignature(secret, sentBody, headers, { now: now + skew })).toEqual({
      valid: false,
      reason,
    });
  });

  test("300 s either way is still inside the window", async () => {
    const headers = await signPayload(SECRET, body, { id, timestamp: now });
    expect((await verifySignature(SECRET, body, headers, { now: now + 300 })).valid).toBe(true);
    expect((await verifySignature(SECRET, body, headers, { now: now - 300 })).valid).toBe(true);
  });

  test("a changed id or timestamp fails even inside the window", async () => {
    const headers = await signPayload(SECRET, body, { id, timestamp: now });
    for (const moved of [{ "webhook-timestamp": String(now + 1) }, { "webhook-id": `${id}x` }]) {
      expect(await verifySignature(SECRET, body, { ...headers, ...moved }, { now })).toEqual({
        valid: false,
        reason: "mismatch",
      });
    }
  });

  test.each([
    ["no headers", {}, "missing"],
    ["no id", { "webhook-timestamp": String(now), "webhook-signature": "v1,x" }, "missing"],
    ["no timestamp", { "webhook-id": id, "webhook-signature": "v1,x" }, "missing"],
    ["a timestamp that is not digits", {
      "webhook-id": id,
      "webhook-timestamp": "1e9",
      "webhook-signature": "v1,x",
    }, "malformed"],
    ["an id with a space", {
      "webhook-id": "a b",
      "webhook-timestamp": String(now),
      "webhook-signature": "v1,x",
    }, "malformed"],
    ["no v1 value", {
      "webhook-id": id,
      "webhook-timestamp": String(now),
      "webhook-signature": "v2,x v1=y V1,z",
    }, "malformed"],
  ])("refuses %s as %s", async (_, headers, reason) => {
    expect(await verifySignature(SECRET, body, headers as Record<string, string>, { now })).toEqual({
      valid: false,
      reason,
    });
  });

  describe("the signature header", () => {
    const variants = async () => {
      const mine = (await signPayload(SECRET, body, { id, timestamp: now }))["webhook-signature"];
      const theirs = (await signPayload(OTHER, body, { id, timestamp: now }))["webhook-signature"];
      const headers = (signature: string) => ({
        "webhook-id": id,
        "webhook-timestamp": String(now),
        "webhook-signature": signature,
      });
      return { mine, theirs, headers };
    };

    test("holds space-separated values in any order, with extra spaces, among other versions", async () => {
      const { mine, theirs, headers } = await variants();
      for (
        const signature of [
          `${theirs} ${mine}`,
          `${mine} ${theirs}`,
          `  ${theirs}   ${mine}  `,
          `v2,abc ${mine}`,
        ]
      ) {
        expect((await verifySignature(SECRET, body, headers(signature), { now })).valid, signature).toBe(
          true,
        );
      }
    });

    test.each([
      ["a v1= prefix (the old scheme)", (mac: string) => `v1=${mac.slice(3)}`],
      ["a v2 prefix", (mac: string) => `v2,${mac.slice(3)}`],
      ["an upper-case version", (mac: string) => `V1,${mac.slice(3)}`],
      ["a space after the comma", (mac: string) => `v1, ${mac.slice(3)}`],
      ["a comma between values", (mac: string) => `v1,AAAA,${mac}`],
      ["a cut signature", (mac: string) => mac.slice(0, -2)],
    ])("does not verify with %s", async (_, change) => {
      const { mine, headers } = await variants();
      expect((await verifySignature(SECRET, body, headers(change(mine)), { now })).valid).toBe(false);
    });

    test("costs one HMAC per active secret however many values it holds", async () => {
      const { mine, headers } = await variants();
      const many = [
        ...Array.from({ length: 5000 }, (_, i) => `v1,${btoa(String(i).padStart(32, "0"))}`),
        mine,
      ].join(" ");
      const macs = [vi.spyOn(crypto.subtle, "sign"), vi.spyOn(crypto.subtle, "verify")];
      try {
        expect((await verifySignature([OTHER, SECRET], body, headers(many), { now })).valid).toBe(true);
        expect(await verifySignature([OTHER], body, headers(many), { now })).toEqual({
          valid: false,
          reason: "mismatch",
        });
        expect(macs.reduce((sum, spy) => sum + spy.mock.calls.length, 0)).toBe(3);
      } finally {
        for (const spy of macs) spy.mockRestore();
      }
    });
  });

  test("no active secret means nothing verifies; an unusable secret is a TypeError, not a silent pass", async () => {
    const headers = await signPayload(SECRET, body, { id, timestamp: now });
    expect((await verifySignature([], body, headers, { now })).valid).toBe(false);
    expect((await verifySignature([""], body, headers, { now })).valid).toBe(false);
    await expect(verifySignature(["not-a-whsec-secret"], body, headers, { now })).rejects.toThrow(TypeError);
  });
});
