import { describe, expect, test, vi } from "vitest";
import { buildBulkIdentifyRequests, planChunks, verifySignature } from "../../mod.ts";
import { BAD_INPUT_CASES, coreInput, echoes, expandText, secretsOf } from "./bad-inputs-corpus.ts";
import {
  ACTIVE_SECRETS,
  CREDENTIAL_CASES,
  REPEAT_CASES,
  SIGNATURE_CASES,
  signatureCaseHeaders,
} from "./requests-corpus.ts";

// The core's half of the bad-input corpus (the endpoint's is test/worker/bad-inputs.test.ts):
// each input the core can be given is rejected with value-free issues at the documented places,
// or accepted as documented, and nothing throws.

test("the corpus holds at least 60 documented cases with unique ids", () => {
  expect(BAD_INPUT_CASES.length).toBeGreaterThanOrEqual(60);
  expect(new Set(BAD_INPUT_CASES.map((c) => c.id)).size).toBe(BAD_INPUT_CASES.length);
  for (const c of BAD_INPUT_CASES) expect(c.why.length, c.id).toBeGreaterThan(10);
});

test("most cases reach the core too, not only the endpoint", () => {
  const reached = BAD_INPUT_CASES.filter((c) => !("skip" in c.core));
  expect(reached.length).toBeGreaterThanOrEqual(60);
});

describe.each(BAD_INPUT_CASES.filter((c) => !("skip" in c.core)).map((c) => [c.id, c] as const))(
  "%s",
  (_, c) => {
    const expected = c.core as Exclude<typeof c.core, { skip: string }>;
    const input = coreInput(c);

    test("planChunks and buildBulkIdentifyRequests give the documented outcome without throwing", () => {
      if ("skip" in input) throw new Error(`the case documents a core outcome, but ${input.skip}`);
      const options = { kind: input.kind, ...expected.options };
      let plan: ReturnType<typeof planChunks> | undefined;
      let built: ReturnType<typeof buildBulkIdentifyRequests> | undefined;
      expect(() => (plan = planChunks(input.rows, options))).not.toThrow();
      expect(() => (built = buildBulkIdentifyRequests(input.rows, { apiKey: "k", ...options }))).not
        .toThrow();
      expect(plan!.rejected.map(({ index, path }) => ({ index, path }))).toEqual(
        expected.rejected.map(({ index, path }) => ({ index, path: expandText(path) })),
      );
      expect(built!.rejected).toEqual(plan!.rejected);
      expect(built!.requests).toHaveLength(plan!.chunks.length);
      for (const issue of plan!.rejected) expect(issue.message).toMatch(/\S/);
      if (expected.chunks !== undefined) expect(plan!.chunks).toHaveLength(expected.chunks);
      if (expected.rows !== undefined) {
        expect(plan!.chunks.flatMap((chunk) => chunk.rows)).toEqual(expected.rows);
      }
      if (expected.rejected.length > 0 && expected.chunks === undefined && expected.rows === undefined) {
        // Every row of these cases is bad: nothing may be planned.
        const bad = new Set(expected.rejected.map((issue) => issue.index));
        expect(plan!.chunks.flatMap((chunk) => chunk.indexes).filter((i) => bad.has(i))).toEqual([]);
      }
    });

    test("no issue echoes a submitted value", () => {
      if ("skip" in input) return;
      const { rejected } = planChunks(input.rows, { kind: input.kind, ...expected.options });
      const text = JSON.stringify(rejected);
      for (const secret of secretsOf(c)) {
        expect(echoes(text, secret), `echoed ${JSON.stringify(secret.slice(0, 40))}`).toBe(false);
      }
    });
  },
);

test("cases documented as endpoint-only say why, and none of them is a row the core would take silently", () => {
  for (const c of BAD_INPUT_CASES.filter((c) => "skip" in c.core)) {
    expect((c.core as { skip: string }).skip.length, c.id).toBeGreaterThan(10);
  }
});

test("the echo check has something to look for: planted values are found", () => {
  const planted = BAD_INPUT_CASES.find((c) => c.id === "user-id-number")!;
  expect(secretsOf(planted)).toContain("do-not-echo-this-value");
  expect(secretsOf(BAD_INPUT_CASES.find((c) => c.id === "json-trailing-comma")!)).toContain("user_1");
  expect(echoes('{"m":"a\\u0000b"}', "a\u0000b")).toBe(true);
  const withSecrets = BAD_INPUT_CASES.filter((c) => secretsOf(c).length > 0).length;
  expect(withSecrets).toBeGreaterThanOrEqual(80);
});

describe("signature headers", () => {
  test("the request corpus holds documented cases with unique ids", () => {
    const ids = [...SIGNATURE_CASES, ...REPEAT_CASES, ...CREDENTIAL_CASES].map((c) => c.id);
    expect(CREDENTIAL_CASES.length).toBeGreaterThanOrEqual(15);
    for (const c of CREDENTIAL_CASES) expect(c.why.length, c.id).toBeGreaterThan(10);
    expect(SIGNATURE_CASES.length).toBeGreaterThanOrEqual(20);
    expect(REPEAT_CASES.length).toBeGreaterThanOrEqual(10);
    expect(new Set(ids).size).toBe(ids.length);
    for (const c of [...SIGNATURE_CASES, ...REPEAT_CASES]) expect(c.why.length, c.id).toBeGreaterThan(10);
    for (const c of REPEAT_CASES) {
      expect([c.statuses.length, c.replayed.length], c.id).toEqual([c.requests.length, c.requests.length]);
    }
  });

  const now = 1_800_000_000;
  const body = '{"user_id":"user_1"}';
  test.each(SIGNATURE_CASES.map((c) => [c.id, c] as const))(
    "%s: verifySignature gives the documented outcome, at one HMAC per secret",
    async (_, c) => {
      const headers = signatureCaseHeaders(c, body, "core", now);
      const macs = [vi.spyOn(crypto.subtle, "sign"), vi.spyOn(crypto.subtle, "verify")];
      try {
        const result = await verifySignature(ACTIVE_SECRETS, body, headers, { now });
        expect(result).toEqual(
          c.core.valid
            ? { valid: true, id: headers["webhook-id"], timestamp: now + (c.skewSeconds ?? 0) }
            : c.core,
        );
        expect(macs.reduce((sum, spy) => sum + spy.mock.calls.length, 0)).toBeLessThanOrEqual(
          ACTIVE_SECRETS.length,
        );
      } finally {
        for (const spy of macs) spy.mockRestore();
      }
    },
  );
});

test("no case changed Object.prototype", () => {
  expect(Object.prototype).not.toHaveProperty("polluted");
  expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
});
