import * as v from "valibot";
import { describe, expect, test } from "vitest";
import {
  BulkIdentifyUsersBodySchema,
  CompanySchema,
  createUserSchema,
  JobSchema,
  MetadataSchema,
  planChunks,
  UserSchema,
} from "../../mod.ts";

const SECRET = "s3cr3t-value";

/** Each bad row, the path it must be reported at, and words the message must contain. */
const badRows: [string, unknown, string, RegExp][] = [
  ["a string row", SECRET, "", /row must be an object, received a string/],
  ["null row", null, "", /received null/],
  ["an array row", [SECRET], "", /received an array/],
  ["missing user_id", { metadata: { a: SECRET } }, "user_id", /is required/],
  ["empty user_id", { user_id: "" }, "user_id", /must not be empty/],
  ["blank user_id", { user_id: "   " }, "user_id", /must not be empty/],
  ["numeric user_id", { user_id: 12345 }, "user_id", /must be a string, received a number/],
  ["huge user_id", { user_id: "x".repeat(256) }, "user_id", /at most 255 characters/],
  ["control character in user_id", { user_id: "a\u0000b" }, "user_id", /control characters/],
  ["lone surrogate in user_id", { user_id: "a\ud800" }, "user_id", /unpaired surrogate/],
  ["null company_id", { user_id: "u", company_id: null }, "company_id", /must be a string, received null/],
  [
    "unknown top-level key",
    { user_id: "u", email: SECRET },
    "email",
    /put profile properties under metadata/,
  ],
  ["metadata array", { user_id: "u", metadata: [SECRET] }, "metadata", /received an array/],
  ["metadata string", { user_id: "u", metadata: SECRET }, "metadata", /received a string/],
  ["nested object", { user_id: "u", metadata: { a: { b: SECRET } } }, "metadata.a", /received an object/],
  ["array value", { user_id: "u", metadata: { a: [SECRET] } }, "metadata.a", /received an array/],
  ["undefined value", { user_id: "u", metadata: { a: undefined } }, "metadata.a", /use null to remove/],
  ["NaN", { user_id: "u", metadata: { a: Number.NaN } }, "metadata.a", /received NaN/],
  ["Infinity", { user_id: "u", metadata: { a: Number.POSITIVE_INFINITY } }, "metadata.a", /finite number/],
  ["-Infinity", { user_id: "u", metadata: { a: Number.NEGATIVE_INFINITY } }, "metadata.a", /finite number/],
  ["bigint", { user_id: "u", metadata: { a: 10n } }, "metadata.a", /received a bigint/],
  [
    "invalid Date",
    { user_id: "u", metadata: { a: new Date("nope") } },
    "metadata.a",
    /received an invalid Date/,
  ],
  ["function", { user_id: "u", metadata: { a: () => SECRET } }, "metadata.a", /received a function/],
  [
    "__proto__ key",
    JSON.parse(`{"user_id":"u","metadata":{"__proto__":"${SECRET}"}}`),
    "metadata.__proto__",
    /reserved/,
  ],
  [
    "constructor key",
    { user_id: "u", metadata: { constructor: SECRET } },
    "metadata.constructor",
    /reserved/,
  ],
  ["prototype key", { user_id: "u", metadata: { prototype: SECRET } }, "metadata.prototype", /reserved/],
  ["empty key", { user_id: "u", metadata: { "": SECRET } }, "metadata.", /key must not be empty/],
  [
    "long key",
    { user_id: "u", metadata: { ["k".repeat(129)]: 1 } },
    `metadata.${"k".repeat(64)}…`,
    /at most 128/,
  ],
  [
    "long value",
    { user_id: "u", metadata: { a: "v".repeat(8193) } },
    "metadata.a",
    /at most 8192 characters/,
  ],
  ["lone surrogate value", { user_id: "u", metadata: { a: "\udc00" } }, "metadata.a", /unpaired surrogate/],
  [
    "too many keys",
    { user_id: "u", metadata: Object.fromEntries(Array.from({ length: 257 }, (_, i) => [`k${i}`, i])) },
    "metadata",
    /at most 256 keys/,
  ],
];

describe("row validation", () => {
  test.each(badRows)("rejects %s with a clear, value-free issue", (_, row, path, message) => {
    const { rejected, chunks } = planChunks([row]);
    expect(chunks).toEqual([]);
    expect(rejected.length).toBeGreaterThan(0);
    expect(rejected).toContainEqual({ index: 0, path, message: expect.stringMatching(message) });
    expect(JSON.stringify(rejected)).not.toContain(SECRET);
  });

  test("accepts every allowed value type and sends a Date as ISO 8601", () => {
    const out = v.parse(UserSchema, {
      user_id: "user_123",
      company_id: "acme",
      metadata: {
        s: "x",
        n: 3.25,
        zero: 0,
        neg: -1,
        t: true,
        f: false,
        gone: null,
        d: new Date(Date.UTC(2024, 0, 15)),
      },
    });
    expect(out.metadata).toEqual({
      s: "x",
      n: 3.25,
      zero: 0,
      neg: -1,
      t: true,
      f: false,
      gone: null,
      d: "2024-01-15T00:00:00.000Z",
    });
  });

  test("companies need company_id and take no user_id", () => {
    expect(v.safeParse(CompanySchema, { company_id: "acme" }).success).toBe(true);
    expect(v.safeParse(CompanySchema, { user_id: "u", company_id: "acme" }).success).toBe(false);
    expect(v.safeParse(CompanySchema, { metadata: {} }).success).toBe(false);
  });

  test("limits are options", () => {
    const roomy = createUserSchema({ maxIdLength: 1000 });
    expect(v.safeParse(roomy, { user_id: "x".repeat(999) }).success).toBe(true);
    expect(planChunks([{ user_id: "abcd" }], { limits: { maxIdLength: 3 } }).rejected).toHaveLength(1);
  });

  test("MetadataSchema accepts a null-prototype object", () => {
    const metadata = Object.assign(Object.create(null), { plan: "pro" });
    expect(v.parse(MetadataSchema, metadata)).toEqual({ plan: "pro" });
  });
});

describe("bodies and jobs", () => {
  test("a users body holds 1 to 10,000 rows", () => {
    expect(v.safeParse(BulkIdentifyUsersBodySchema, { users: [] }).success).toBe(false);
    expect(v.safeParse(BulkIdentifyUsersBodySchema, { users: [{ user_id: "u" }] }).success).toBe(true);
    const many = Array.from({ length: 10_001 }, (_, i) => ({ user_id: `u${i}` }));
    expect(v.safeParse(BulkIdentifyUsersBodySchema, { users: many }).success).toBe(false);
  });

  test("both documented 202 shapes parse, and unknown fields are kept", () => {
    const guide = {
      job_id: "5b1c7a4e-0000-4000-8000-000000000000",
      status: "queued",
      submitted_at: "2024-01-15T08:00:00Z",
    };
    const openapi = {
      job_id: "bulk:jobs:NX-ac54070e:c6f91301-54c1-4df7-a077-b34715c38875",
      status: "processing",
      start_time: "2024-01-15T08:00:00Z",
      end_time: null,
      file_size: 123,
      filename: "users.ndjson",
      links: "<string>",
      total_rows: 2,
      type: "users",
      something_new: { a: 1 },
    };
    expect(v.parse(JobSchema, guide)).toEqual(guide);
    expect(v.parse(JobSchema, openapi)).toEqual(openapi);
    expect(v.safeParse(JobSchema, { status: "queued" }).success).toBe(false);
    expect(v.safeParse(JobSchema, { job_id: "x" }).success).toBe(false);
  });
});
