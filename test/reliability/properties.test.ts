import fc from "fast-check";
import * as v from "valibot";
import { Webhook } from "standardwebhooks";
import { describe, expect, test, vi } from "vitest";
import {
  coalesceRows,
  createCompanySchema,
  createIngestClient,
  createUserSchema,
  isRequestId,
  mergeRow,
  planChunks,
  signPayload,
  type User,
  validateRows,
  verifySignature,
} from "../../mod.ts";
import { toBase64 } from "../../src/core/encoding.ts";
import { createFastRowParser } from "../../src/core/fast-rows.ts";
import { jsonStringBytes } from "../../src/core/json-size.ts";
import { randomSeed, testSeed } from "../support/seed.ts";

// Properties over generated inputs. numRuns stays modest so the file runs in a few seconds;
// fast-check prints the shrunk counterexample of any failure; every property runs from this seed,
// printed, so TEST_SEED=<seed> replays the whole file.
fc.configureGlobal({ seed: testSeed("reliability/properties.test.ts fast-check", randomSeed()) });

const utf8 = (text: string) => new TextEncoder().encode(text).length;

// Rows over a few ids and keys, so that merges happen often.
const idArb = fc.constantFrom("u0", "u1", "u2", "u3", "u4");
const keyArb = fc.constantFrom("plan", "seats", "nickname", "trial", "name");
const valueArb = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 12 }),
  fc.integer({ min: -1000, max: 1000 }),
  fc.boolean(),
  fc.constant(null),
);
const userArb: fc.Arbitrary<User> = fc.record(
  {
    user_id: idArb,
    company_id: fc.constantFrom("acme", "globex", "initech"),
    metadata: fc.dictionary(keyArb, valueArb, { maxKeys: 4, noNullPrototype: true }),
  },
  { requiredKeys: ["user_id"] },
);
const usersArb = fc.array(userArb, { maxLength: 30 });

/** The merge, written without the core: what Userpilot holds after applying rows in order. */
function model(rows: readonly User[]): User[] {
  const merged = new Map<string, User>();
  for (const row of rows) {
    const earlier = merged.get(row.user_id);
    const next: User = { ...(earlier ?? { user_id: row.user_id }) };
    if (row.company_id !== undefined) next.company_id = row.company_id;
    if (row.metadata !== undefined) next.metadata = { ...(earlier?.metadata ?? {}), ...row.metadata };
    merged.set(row.user_id, next);
  }
  return [...merged.values()];
}

describe("coalescing", () => {
  test("is associative: merging the halves first changes nothing", () => {
    fc.assert(
      fc.property(usersArb, usersArb, usersArb, (a, b, c) => {
        const whole = coalesceRows([...a, ...b, ...c]);
        expect(coalesceRows([...coalesceRows([...a, ...b]), ...c])).toEqual(whole);
        expect(coalesceRows([...a, ...coalesceRows([...b, ...c])])).toEqual(whole);
      }),
      { numRuns: 200 },
    );
  });

  test("mergeRow is associative on rows of one id", () => {
    const sameId = userArb.map((row) => ({ ...row, user_id: "u0" }));
    fc.assert(
      fc.property(sameId, sameId, sameId, (x, y, z) => {
        expect(mergeRow(mergeRow(x, y), z)).toEqual(mergeRow(x, mergeRow(y, z)));
      }),
      { numRuns: 200 },
    );
  });

  test("keeps the last value of every key, every null, the last company, and first-seen order", () => {
    fc.assert(
      fc.property(usersArb, (rows) => {
        const merged = coalesceRows(rows);
        expect(merged).toEqual(model(rows));
        expect(merged.map((row) => row.user_id)).toEqual([...new Set(rows.map((row) => row.user_id))]);
        for (const row of merged) {
          const mine = rows.filter((r) => r.user_id === row.user_id);
          for (const key of new Set(mine.flatMap((r) => Object.keys(r.metadata ?? {})))) {
            const last = mine.findLast((r) => r.metadata !== undefined && key in r.metadata)!;
            // A later null is kept: it is what removes the property at Userpilot.
            expect(row.metadata![key]).toBe(last.metadata![key]);
          }
          expect(row.company_id).toBe(mine.findLast((r) => r.company_id !== undefined)?.company_id);
        }
      }),
      { numRuns: 300 },
    );
  });

  test("planChunks merges exactly as coalesceRows does", () => {
    fc.assert(
      fc.property(usersArb, (rows) => {
        const { chunks, rejected } = planChunks(rows);
        expect(rejected).toEqual([]);
        expect(chunks.flatMap((chunk) => chunk.rows)).toEqual(coalesceRows(rows));
      }),
      { numRuns: 200 },
    );
  });
});

describe("chunking", () => {
  // Distinct ids, text in any script (multi-byte, astral), sizes around the byte limit.
  const rowsArb = fc
    .array(
      fc.record({
        text: fc.string({ unit: "grapheme", maxLength: 40 }),
        more: fc.string({ unit: "binary", maxLength: 20 }),
        n: fc.double({ noNaN: true, noDefaultInfinity: true }),
      }),
      { maxLength: 60 },
    )
    .map((items) =>
      items.map(({ text, more, n }, i): User => ({ user_id: `user_${i}`, metadata: { text, more, n } }))
    );

  test("never loses, duplicates or reorders a row, and holds maxRows and maxBytes exactly", () => {
    fc.assert(
      fc.property(
        rowsArb,
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 40, max: 1500 }),
        fc.boolean(),
        (rows, maxRows, maxBytes, coalesce) => {
          const { chunks, rejected } = planChunks(rows, { maxRows, maxBytes, coalesce });
          const frame = utf8('{"users":[') + 2;
          const tooBig = rows
            .map((row, index) => ({ index, size: utf8(JSON.stringify(row)) }))
            .filter(({ size }) => frame + size > maxBytes)
            .map(({ index }) => index);
          // Only rows that cannot fit in any body are refused, each once, by index.
          expect(rejected.map((issue) => issue.index)).toEqual(tooBig);
          const kept = rows.filter((_, index) => !tooBig.includes(index));
          expect(chunks.flatMap((chunk) => chunk.rows)).toEqual(kept);
          expect(chunks.flatMap((chunk) => chunk.indexes)).toEqual(
            rows.map((_, index) => index).filter((index) => !tooBig.includes(index)),
          );
          for (const [i, chunk] of chunks.entries()) {
            expect(chunk.rows.length).toBeGreaterThan(0);
            expect(chunk.rows.length).toBeLessThanOrEqual(maxRows);
            expect(chunk.bytes).toBe(utf8(chunk.body));
            expect(chunk.bytes).toBeLessThanOrEqual(maxBytes);
            expect(chunk.body).toBe(JSON.stringify({ users: chunk.rows }));
            // Greedy: a body closes only when the next row would not fit.
            const next = chunks[i + 1];
            if (next !== undefined && chunk.rows.length < maxRows) {
              expect(chunk.bytes + 1 + utf8(JSON.stringify(next.rows[0]))).toBeGreaterThan(maxBytes);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

test("a string's JSON text is measured exactly, and -1 exactly when it has a lone surrogate", () => {
  // Strings of any UTF-16 code units (lone surrogates, controls, quotes, backslashes included),
  // and of whole code points.
  const anyText = fc.oneof(
    fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 30 }).map((units) =>
      String.fromCharCode(...units)
    ),
    fc.array(fc.constantFrom(0, 8, 9, 10, 11, 12, 13, 0x1f, 0x22, 0x5c, 0x7f, 0x9f, 0xe9), { maxLength: 12 })
      .map((units) => String.fromCharCode(...units)),
    fc.string({ unit: "binary", maxLength: 30 }),
    fc.string({ unit: "grapheme", maxLength: 30 }),
  );
  fc.assert(
    fc.property(anyText, (text) => {
      const bytes = jsonStringBytes(text);
      if (text.isWellFormed()) expect(bytes).toBe(utf8(JSON.stringify(text)));
      else expect(bytes).toBe(-1);
    }),
    { numRuns: 1000 },
  );
});

describe("the validation fast path", () => {
  // A valid row with at most one flaw, so every rule is probed on rows that are otherwise fine.
  const badKey = fc.constantFrom(
    "__proto__",
    "constructor",
    "prototype",
    "",
    " ",
    "a\u0000b",
    "k\ud800",
    "x".repeat(129),
  );
  const badValue = fc.constantFrom<unknown>(
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    "\ud800",
    "a\udc00b",
    "x".repeat(8193),
    undefined,
    10n,
    new Date(Number.NaN),
    { nested: 1 },
    [1],
    () => 1,
    Symbol("s"),
  );
  const badId = fc.constantFrom<unknown>(
    "",
    "   ",
    "a\nb",
    "a\u0085b",
    "a\u007fb",
    "x".repeat(256),
    "\udc00",
    5,
    null,
    undefined,
    {},
    [],
  );
  const goodValue = fc.oneof(
    valueArb,
    fc.date({ noInvalidDate: true }),
    fc.constant(-0),
    fc.string({ unit: "binary", maxLength: 8 }),
  );
  const baseArb = fc.record(
    {
      user_id: fc.oneof(
        idArb,
        fc.string({ unit: "grapheme", minLength: 1, maxLength: 8 }).filter((s) => s.trim() !== ""),
      ),
      company_id: idArb,
      metadata: fc.oneof(
        fc.dictionary(
          fc.oneof(keyArb, fc.string({ maxLength: 6 }).filter((k) => k.trim() !== "")),
          goodValue,
          { maxKeys: 6 },
        ),
        fc.constant(Object.create(null) as Record<string, unknown>),
      ),
    },
    { requiredKeys: ["user_id"] },
  );
  type Flaw = (row: Record<string, unknown>) => unknown;
  const flawArb: fc.Arbitrary<Flaw | null> = fc.option(
    fc.oneof(
      badId.map((id): Flaw => (row) => ({ ...row, user_id: id })),
      badId.map((id): Flaw => (row) => ({ ...row, company_id: id })),
      fc.constant<Flaw>(({ user_id: _, ...row }) => row),
      fc.anything({ maxDepth: 0 }).map((value): Flaw => (row) => ({ ...row, metadata: value })),
      fc.tuple(badKey, goodValue).map(([key, value]): Flaw => (row) => {
        const metadata = { ...(row["metadata"] as object) };
        Object.defineProperty(metadata, key, { value, enumerable: true, configurable: true, writable: true });
        return { ...row, metadata };
      }),
      fc.tuple(keyArb, badValue).map(([key, value]): Flaw => (row) => ({
        ...row,
        metadata: { ...(row["metadata"] as object), [key]: value },
      })),
      fc.constant<Flaw>((row) => ({
        ...row,
        metadata: Object.fromEntries(Array.from({ length: 257 }, (_, i) => [`k${i}`, i])),
      })),
      fc.string({ maxLength: 8 }).map((key): Flaw => (row) => ({ ...row, [key]: "extra" })),
      // A symbol key: JSON never shows it, but the schema's output has no such key either.
      fc.constant<Flaw>((row) => ({
        ...row,
        metadata: { ...(row["metadata"] as object), [Symbol("s")]: 1 },
      })),
      fc.anything({ maxDepth: 2 }).map((value): Flaw => () => value),
    ),
    { freq: 3 },
  );
  const rowArb = fc.tuple(baseArb, flawArb).map(([row, flaw]) => (flaw === null ? row : flaw(row)));

  test.each(["users", "companies"] as const)(
    "accepts only what the %s schema accepts, with the same output",
    (kind) => {
      const schema = kind === "users" ? createUserSchema() : createCompanySchema();
      const companyRow = (row: unknown) => {
        if (row === null || typeof row !== "object" || !("user_id" in row)) return row;
        const { user_id: _, ...rest } = row as Record<string, unknown>;
        return rest;
      };
      fc.assert(
        fc.property(rowArb, (generated) => {
          const input = kind === "users" ? generated : companyRow(generated);
          const fast = createFastRowParser(kind)(input);
          const slow = v.safeParse(schema, input);
          if (fast !== undefined) {
            expect(slow.success).toBe(true);
            expect(fast).toEqual(slow.output);
            // Same keys in the same order: the same JSON text, so the same body.
            expect(JSON.stringify(fast)).toBe(JSON.stringify(slow.output));
          }
        }),
        { numRuns: 2000 },
      );
    },
  );

  test("in a realm whose Object.prototype has a setter or a read-only property, it leaves every row to the schema", () => {
    const row = { user_id: "u", metadata: { plan: "pro", tier: "gold", seats: 3 } };
    const inherited = (descriptor: PropertyDescriptor, check: () => void) => {
      Object.defineProperty(Object.prototype, "plan", { ...descriptor, configurable: true });
      try {
        check();
      } finally {
        delete (Object.prototype as Record<string, unknown>)["plan"];
      }
    };
    // valibot assigns each key, which an inherited setter intercepts (and a read-only property
    // refuses, by throwing); a copy made any other way would differ, so the fast path declines.
    inherited({ get: () => undefined, set: () => {} }, () => {
      expect(createFastRowParser("users")(row)).toBeUndefined();
      const { valid } = validateRows([row]);
      expect(JSON.stringify(valid[0]!.row)).toBe(JSON.stringify(v.parse(createUserSchema(), row)));
    });
    inherited({ value: "inherited", writable: false }, () => {
      expect(createFastRowParser("users")(row)).toBeUndefined();
    });
    expect(createFastRowParser("users")(row)).toEqual(row);
  });

  test("and it does take the common case (else it would be pointless)", () => {
    fc.assert(
      fc.property(userArb, (row) => {
        expect(createFastRowParser("users")(row)).toEqual(v.parse(createUserSchema(), row));
      }),
      { numRuns: 100 },
    );
  });
});

describe("signatures", () => {
  // Standard Webhooks secrets: whsec_ and 24 to 64 random bytes in base64.
  const secretArb = fc.uint8Array({ minLength: 24, maxLength: 64 }).map((key) => `whsec_${toBase64(key)}`);
  const idArb = fc.stringMatching(/^[\x21-\x7e]{1,40}$/);
  const bodyArb = fc.oneof(
    fc.string({ unit: "grapheme", maxLength: 200 }),
    fc.uint8Array({ maxLength: 200 }).map((bytes) => new Uint8Array(bytes)),
  );
  const now = 1_750_000_000;
  const timestampArb = fc.integer({ min: now - 300, max: now + 300 });
  const bytes = (
    body: string | Uint8Array,
  ) => (typeof body === "string" ? new TextEncoder().encode(body) : body);
  const sameBytes = (a: string | Uint8Array, b: string | Uint8Array) => {
    const [x, y] = [bytes(a), bytes(b)];
    return x.length === y.length && x.every((byte, i) => byte === y[i]);
  };
  const mismatch = { valid: false, reason: "mismatch" };

  test("a signature verifies; any change to the body, the id, the timestamp or the secret fails it", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.tuple(secretArb, secretArb),
        fc.tuple(idArb, idArb),
        fc.tuple(bodyArb, bodyArb),
        fc.tuple(timestampArb, timestampArb),
        async ([secret, otherSecret], [id, otherId], [body, otherBody], [timestamp, otherTimestamp]) => {
          const headers = await signPayload(secret, body, { id, timestamp });
          expect(await verifySignature([secret], body, headers, { now })).toEqual({
            valid: true,
            id,
            timestamp,
          });
          if (!sameBytes(body, otherBody)) {
            expect(await verifySignature([secret], otherBody, headers, { now })).toEqual(mismatch);
          }
          if (otherId !== id) {
            expect(await verifySignature([secret], body, { ...headers, "webhook-id": otherId }, { now }))
              .toEqual(mismatch);
          }
          if (otherTimestamp !== timestamp) {
            const moved = { ...headers, "webhook-timestamp": String(otherTimestamp) };
            expect(await verifySignature([secret], body, moved, { now })).toEqual(mismatch);
          }
          if (otherSecret !== secret) {
            expect(await verifySignature([otherSecret], body, headers, { now })).toEqual(mismatch);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  test("interoperable both ways with the standardwebhooks package", async () => {
    await fc.assert(
      fc.asyncProperty(
        secretArb,
        idArb,
        fc.string({ unit: "grapheme", maxLength: 200 }),
        async (secret, id, body) => {
          const timestamp = Math.floor(Date.now() / 1000);
          const ours = await signPayload(secret, body, { id, timestamp });
          expect(() => new Webhook(secret).verify(body, ours, { jsonParse: false })).not.toThrow();
          const theirs = new Webhook(secret).sign(id, new Date(timestamp * 1000), body);
          expect(theirs).toBe(ours["webhook-signature"]);
          const headers = {
            "webhook-id": id,
            "webhook-timestamp": String(timestamp),
            "webhook-signature": theirs,
          };
          expect(await verifySignature(secret, body, headers)).toEqual({ valid: true, id, timestamp });
        },
      ),
      { numRuns: 60 },
    );
  });

  test("any arrangement of the signature header verifies exactly when it holds a v1 signature of an active secret, at one HMAC per secret", async () => {
    const noiseArb = fc.oneof(
      fc.uint8Array({ minLength: 32, maxLength: 32 }).map((mac) => `v1,${toBase64(mac)}`),
      fc.constantFrom("v1,", "v1", ",", "v1=00ff", "V1,abc", "v1,not base64"),
      fc.stringMatching(/^[\x21-\x7e]{1,60}$/),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(secretArb, { minLength: 3, maxLength: 3 }),
        fc.subarray([0, 1, 2]),
        fc.array(noiseArb, { maxLength: 40 }),
        fc.array(fc.constantFrom(" ", "  ", "   "), { minLength: 50, maxLength: 50 }),
        fc.array(fc.integer(), { minLength: 50, maxLength: 50 }),
        fc.constantFrom("", "v2,", "v1=", "V1,"),
        bodyArb,
        async (secrets, signers, noise, spaces, order, prefix, body) => {
          const [active, inactive] = [secrets.slice(0, 2), secrets[2]!];
          const headers = await signPayload(inactive, body, { id: "msg_1", timestamp: now });
          const signed: string[] = [];
          for (const i of signers) {
            const mac =
              (await signPayload(secrets[i]!, body, { id: "msg_1", timestamp: now }))["webhook-signature"];
            signed.push(prefix === "" ? mac : `${prefix}${mac.slice(3)}`);
          }
          // Any order, any runs of spaces between values, before and after.
          const parts = [...noise, ...signed].map((part, i) => ({ part, key: order[i]! }))
            .sort((a, b) => a.key - b.key)
            .map(({ part }) => part);
          const header = `${parts.map((part, i) => `${spaces[i]}${part}`).join(" ")}${spaces[49]}`;
          const macs = [vi.spyOn(crypto.subtle, "sign"), vi.spyOn(crypto.subtle, "verify")];
          try {
            const result = await verifySignature(active, body, { ...headers, "webhook-signature": header }, {
              now,
            });
            expect(result.valid).toBe(prefix === "" && signers.some((i) => i < 2));
            const hmacs = macs.reduce((sum, spy) => sum + spy.mock.calls.length, 0);
            expect(hmacs).toBeLessThanOrEqual(active.length);
          } finally {
            for (const spy of macs) spy.mockRestore();
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe("request ids", () => {
  test("the ingest client sends one id per call and the same id on every retry of it", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.constantFrom(202, 429, 500, 503, 0), { minLength: 1, maxLength: 3 }), {
          minLength: 1,
          maxLength: 6,
        }),
        fc.boolean(),
        async (calls, signed) => {
          const seen: { call: number; id: string | null; body: string }[] = [];
          let current = 0;
          let answers: number[] = [];
          const client = createIngestClient(
            signed
              ? { url: "https://ingest.example.com", signingSecret: `whsec_${toBase64(new Uint8Array(32))}` }
              : { url: "https://ingest.example.com", key: "k" },
            {
              fetch: async (request) => {
                const id = request.headers.get(signed ? "webhook-id" : "Idempotency-Key");
                seen.push({ call: current, id, body: await request.text() });
                const status = answers.shift() ?? 202;
                if (status === 0) throw new TypeError("connection dropped");
                return new Response("{}", { status });
              },
              retry: { maxAttempts: 3, baseDelayMs: 0, maxDelayMs: 0 },
            },
          );
          for (const [i, statuses] of calls.entries()) {
            current = i;
            answers = [...statuses];
            client.identify({ user_id: `u${i}` });
            await client.flush();
          }
          const idsByCall = new Map<number, Set<string | null>>();
          for (const { call, id } of seen) idsByCall.set(call, (idsByCall.get(call) ?? new Set()).add(id));
          for (const ids of idsByCall.values()) {
            expect(ids.size).toBe(1);
            expect(isRequestId([...ids][0])).toBe(true);
          }
          const firstIds = [...idsByCall.values()].map((ids) => [...ids][0]);
          expect(new Set(firstIds).size).toBe(calls.length);
        },
      ),
      { numRuns: 40 },
    );
  });
});
