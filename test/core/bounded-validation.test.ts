import { describe, expect, test } from "vitest";
import {
  buildBulkIdentifyRequests,
  DEFAULT_MAX_ISSUES,
  planChunks,
  type RowIssue,
  validateRows,
  ValidationError,
} from "../../mod.ts";
import { inProcess } from "../support/in-process.ts";

// Validation does bounded work and holds a bounded list whatever one row carries: a row with
// 150,000 invalid metadata keys (a body of about 2 MB) once made validation throw "Maximum call
// stack size exceeded" (an unbounded array spread into push). Issues are capped at maxIssues
// (100 by default, the first in input order); issueCount counts them all.

const KEYS = 150_000;

/** One user whose metadata has `KEYS` keys, every one with a control character in it. */
function rowWithBadKeys(): { user_id: string; metadata: Record<string, number> } {
  const metadata: Record<string, number> = {};
  for (let i = 0; i < KEYS; i++) metadata[`bad\u0001key${i}`] = i;
  return { user_id: "hostile", metadata };
}

const hostile = rowWithBadKeys();
const good = { user_id: "u1", metadata: { plan: "pro" } };

test("the hostile row is the size the report describes", () => {
  expect(JSON.stringify(hostile).length).toBeGreaterThan(2_000_000);
});

type Options = { limits?: { maxKeys: number }; maxIssues?: number };

describe.each(
  [
    ["validateRows", (rows: unknown[], options: Options = {}) => validateRows(rows, options)],
    ["planChunks", (rows: unknown[], options: Options = {}) => planChunks(rows, options)],
    [
      "buildBulkIdentifyRequests",
      (rows: unknown[], options: Options = {}) =>
        buildBulkIdentifyRequests(rows, { apiKey: "k", ...options }),
    ],
  ] as const,
)("%s", (_, run) => {
  test("a row with 150,000 invalid keys gets one issue for the count, and no throw", () => {
    let result: { rejected: RowIssue[]; issueCount: number } | undefined;
    expect(() => (result = run([hostile, good]))).not.toThrow();
    expect(result!.rejected).toEqual([
      { index: 0, path: "metadata", message: `must have at most 256 keys, has ${KEYS}` },
    ]);
    expect(result!.issueCount).toBe(1);
    expect(JSON.stringify(result!.rejected).length).toBeLessThan(1000);
  });

  test("with the key limit raised, every bad key is an issue: the first maxIssues are kept, all are counted", () => {
    // The same row through a schema that checks each of its keys: 150,000 issues from valibot.
    let result: { rejected: RowIssue[]; issueCount: number } | undefined;
    const options = { limits: { maxKeys: 1_000_000 }, maxIssues: 10 };
    expect(() => (result = run([hostile, good], options))).not.toThrow();
    expect(result!.rejected).toHaveLength(10);
    expect(result!.issueCount).toBe(KEYS);
    expect(result!.rejected[0]).toEqual({
      index: 0,
      path: "metadata.bad\u0001key0",
      message: "key must not contain control characters",
    });
  });
});

test("a row with 150,000 unknown fields gets one issue, not one per field", () => {
  const row: Record<string, unknown> = { user_id: "u" };
  for (let i = 0; i < KEYS; i++) row[`field${i}`] = i;
  const { rejected, issueCount } = planChunks([row]);
  expect(rejected).toEqual([
    { index: 0, path: "", message: `row has ${KEYS + 1} fields; put profile properties under metadata` },
  ]);
  expect(issueCount).toBe(1);
});

test("many bad rows: the first 100 issues in input order, and the count of all", () => {
  const rows = Array.from({ length: 1000 }, (_, i) => (i % 2 === 0 ? { user_id: "" } : { user_id: `u${i}` }));
  const { rejected, issueCount, chunks } = planChunks(rows);
  expect(rejected).toHaveLength(100);
  expect(rejected.map((issue) => issue.index)).toEqual(Array.from({ length: 100 }, (_, i) => 2 * i));
  expect(issueCount).toBe(500);
  expect(chunks[0]!.rows).toHaveLength(500);
  expect(planChunks(rows, { maxIssues: Number.POSITIVE_INFINITY }).rejected).toHaveLength(500);
  expect(() => planChunks(rows, { maxIssues: -1 })).toThrow(RangeError);
  expect(() => planChunks(rows, { maxIssues: 1.5 })).toThrow(RangeError);
});

describe("UserpilotClient", () => {
  test("bulkIdentifyUsers sends the good rows and reports the hostile one without throwing", async () => {
    const { client, inspect } = inProcess();
    const { jobs, rejected } = await client.bulkIdentifyUsers([hostile, good]);
    expect(jobs).toHaveLength(1);
    expect(rejected).toEqual([
      { index: 0, path: "metadata", message: `must have at most 256 keys, has ${KEYS}` },
    ]);
    expect((await inspect("/__sandbox/users/u1")).body).toMatchObject({ metadata: { plan: "pro" } });
    expect((await inspect("/__sandbox/users/hostile")).status).toBe(404);
  });

  test("bulkIdentifyCompanies and strict mode: a bounded list, nothing sent", async () => {
    const { client, inspect } = inProcess();
    const company = { company_id: "hostile", metadata: hostile.metadata };
    const companies = await client.bulkIdentifyCompanies([company, { company_id: "acme" }]);
    expect(companies.jobs).toHaveLength(1);
    expect(companies.rejected).toHaveLength(1);
    const limits = { maxKeys: 1_000_000 };
    const error = await client.bulkIdentifyUsers([hostile, good], { strict: true, limits }).catch((e) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues).toHaveLength(DEFAULT_MAX_ISSUES);
    expect((await inspect("/__sandbox/users/u1")).status).toBe(404);
  });
});
