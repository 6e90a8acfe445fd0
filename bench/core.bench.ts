/**
 * Benchmark 1, the core pipeline: validate + coalesce + build the requests for 10,000 realistic
 * users, side by side with (a) a bare `JSON.stringify` of the same body (the floor) and (b) the
 * same job written with zod 4 the way a user would. Runtime-neutral: `bench/run.ts` runs this
 * file with Node, Deno and Bun.
 *
 *   node --import tsx bench/core.bench.ts | deno run bench/core.bench.ts | bun bench/core.bench.ts
 */
import { z } from "zod";
import { buildBulkIdentifyRequests, planChunks } from "../mod.ts";
import { compare, emit, runtime } from "./measure.ts";
import { type BenchRow, realisticRows } from "./rows.ts";

const ROWS = 10_000;
const URL_USERS = "https://analytex.userpilot.io/v1/users/bulk_identify";
const HEADERS = {
  Authorization: "Token bench-key",
  "Content-Type": "application/json",
  Accept: "application/json, text/plain, */*",
};

// The zod version: the project's rules as a user would write them with zod 4.
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const FORBIDDEN = new Set(["__proto__", "constructor", "prototype"]);
const zodId = z
  .string()
  .max(255)
  .refine((s) => s.trim().length > 0, "must not be empty")
  .refine((s) => !CONTROL.test(s), "must not contain control characters")
  .refine((s) => s.isWellFormed(), "must be valid Unicode");
const zodKey = z
  .string()
  .max(128)
  .refine((k) => !FORBIDDEN.has(k), "is a reserved JavaScript name")
  .refine((k) => k.trim().length > 0, "key must not be empty")
  .refine((k) => !CONTROL.test(k), "key must not contain control characters")
  .refine((k) => k.isWellFormed(), "key must be valid Unicode");
const zodValue = z.union([
  z.string().max(8192).refine((s) => s.isWellFormed(), "must be valid Unicode"),
  z.number(), // zod 4 refuses NaN and ±Infinity
  z.boolean(),
  z.null(),
  z.date().transform((date) => date.toISOString()),
]);
const ZodUserRow = z.strictObject({
  user_id: zodId,
  company_id: zodId.optional(),
  metadata: z
    .record(zodKey, zodValue)
    .refine((m) => Object.keys(m).length <= 256, "at most 256 keys")
    .optional(),
});
type ZodUser = z.output<typeof ZodUserRow>;

/** Validate with zod, merge by id, one JSON.stringify per body of at most 10,000 rows. */
function zodJob(rows: readonly unknown[]): Request[] {
  const byId = new Map<string, ZodUser>();
  const rejected: { index: number; issues: unknown[] }[] = [];
  rows.forEach((input, index) => {
    const parsed = ZodUserRow.safeParse(input);
    if (!parsed.success) {
      rejected.push({ index, issues: parsed.error.issues });
      return;
    }
    const row = parsed.data;
    const earlier = byId.get(row.user_id);
    byId.set(
      row.user_id,
      earlier === undefined
        ? row
        : { ...earlier, ...row, metadata: { ...earlier.metadata, ...row.metadata } },
    );
  });
  const merged = [...byId.values()];
  const requests: Request[] = [];
  for (let start = 0; start < merged.length; start += 10_000) {
    const body = JSON.stringify({ users: merged.slice(start, start + 10_000) });
    requests.push(new Request(URL_USERS, { method: "POST", headers: HEADERS, body }));
  }
  return requests;
}

const rows: BenchRow[] = realisticRows(ROWS);

// Sanity, untimed: every variant builds the same 10,000 rows.
const ours = buildBulkIdentifyRequests(rows, { apiKey: "bench-key" });
const oursBody = (await ours.requests[0]!.json()) as { users: unknown[] };
const zodBody = (await zodJob(rows)[0]!.json()) as { users: unknown[] };
if (ours.requests.length !== 1 || oursBody.users.length !== ROWS || ours.rejected.length > 0) {
  throw new Error("buildBulkIdentifyRequests did not build one body of 10,000 rows");
}
if (JSON.stringify(zodBody) !== JSON.stringify(oursBody)) {
  throw new Error("the zod version builds a different body");
}

const result = compare(
  {
    floor: () => JSON.stringify({ users: rows }),
    // Informational: the least any pipeline that ends in a Request pays (stringify + Request).
    floorRequest: () =>
      new Request(URL_USERS, { method: "POST", headers: HEADERS, body: JSON.stringify({ users: rows }) }),
    ours: () => buildBulkIdentifyRequests(rows, { apiKey: "bench-key" }).requests,
    // Bodies are written when first read (see Chunk): read them, so the body is in the figure.
    oursPlanOnly: () => planChunks(rows).chunks.map((chunk) => chunk.body),
    // Informational: the plan when no body is read (a dry run, the Worker's queue, the Durable
    // Object choosing its next job's rows).
    oursRowsOnly: () => planChunks(rows).chunks,
    zod: () => zodJob(rows),
  },
  { rounds: 40, warmup: 8 },
);
const { name, version } = runtime();
const oursOverFloor = result.ratio("ours", "floor");
const planOverFloor = result.ratio("oursPlanOnly", "floor");
const oursOverRequest = result.ratio("ours", "floorRequest");
const zodOverOurs = result.ratio("zod", "ours");
emit({
  id: `1-${name}`,
  name: `Core pipeline, 10,000 users (${name} ${version})`,
  figures: [
    { label: "floor: JSON.stringify of the body", value: result.medians["floor"]!, unit: "ms" },
    { label: "buildBulkIdentifyRequests", value: result.medians["ours"]!, unit: "ms" },
    { label: "planChunks (no Request objects)", value: result.medians["oursPlanOnly"]!, unit: "ms" },
    { label: "planChunks, bodies not read", value: result.medians["oursRowsOnly"]!, unit: "ms" },
    { label: "zod 4 version (with Request objects)", value: result.medians["zod"]!, unit: "ms" },
    {
      label: "JSON.stringify + new Request (no validation)",
      value: result.medians["floorRequest"]!,
      unit: "ms",
    },
    { label: "ours / floor", value: oursOverFloor, unit: "×" },
    { label: "planChunks / floor", value: planOverFloor, unit: "×" },
    { label: "planChunks, bodies not read / floor", value: result.ratio("oursRowsOnly", "floor"), unit: "×" },
    { label: "ours / (JSON.stringify + new Request)", value: oursOverRequest, unit: "×" },
    { label: "zod / ours", value: zodOverOurs, unit: "×" },
  ],
  target: "planChunks ≤ 1.3× the floor; ours ≤ 1.15× (JSON.stringify + new Request); faster than zod",
  met: planOverFloor <= 1.3 && oursOverRequest <= 1.15 && zodOverOurs > 1,
});
