import fc from "fast-check";
import * as v from "valibot";
import { describe, expect, test } from "vitest";
import {
  coalesceRows,
  createCompanySchema,
  createUserSchema,
  mergeRow,
  planChunks,
  signPayload,
  type User,
  validateRows,
  verifySignature,
} from "../../mod.ts";
import { createFastRowParser } from "../../src/core/fast-rows.ts";
import { jsonStringBytes } from "../../src/core/json-size.ts";

// Properties over generated inputs. numRuns stays modest so the file runs in a few seconds;
// fast-check prints the seed and the shrunk counterexample of any failure, to replay it.

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
  // Secrets of printable ASCII: HMAC pads short keys with zero bytes, so "k" and "k\0" are the
  // same key by design of HMAC; that is not what this property is about.
  const secretArb = fc.string({ minLength: 1, maxLength: 40 });
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

  test("a signature verifies; any change to the body, the timestamp or the secret fails it", async () => {
    await fc.assert(
      fc.asyncProperty(
        secretArb,
        secretArb,
        bodyArb,
        bodyArb,
        timestampArb,
        timestampArb,
        async (secret, otherSecret, body, otherBody, timestamp, otherTimestamp) => {
          const headers = await signPayload(secret, body, timestamp);
          expect(await verifySignature([secret], body, headers, { now })).toMatchObject({
            valid: true,
            timestamp,
          });
          if (!sameBytes(body, otherBody)) {
            expect(await verifySignature([secret], otherBody, headers, { now })).toEqual({
              valid: false,
              reason: "mismatch",
            });
          }
          if (otherTimestamp !== timestamp) {
            const moved = { ...headers, "X-Signature-Timestamp": String(otherTimestamp) };
            expect(await verifySignature([secret], body, moved, { now })).toEqual({
              valid: false,
              reason: "mismatch",
            });
          }
          if (otherSecret !== secret) {
            expect(await verifySignature([otherSecret], body, headers, { now })).toEqual({
              valid: false,
              reason: "mismatch",
            });
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});
