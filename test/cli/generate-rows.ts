/**
 * Write an N-row NDJSON file of synthetic users, for measuring the CLI on big inputs (not a test).
 *
 *   node_modules/.bin/tsx test/cli/generate-rows.ts 1000000 /tmp/users.ndjson
 *   /usr/bin/time -v node_modules/.bin/tsx src/cli/main.ts users /tmp/users.ndjson --dry-run
 *
 * Rows are deterministic; about one in 50 repeats an earlier id and one in 1,000 is invalid.
 */
import { createWriteStream } from "node:fs";
import { once } from "node:events";
import process from "node:process";

const [countText = "1000000", path = "users.ndjson"] = process.argv.slice(2);
const count = Number(countText);
if (!Number.isInteger(count) || count < 1) throw new RangeError("usage: generate-rows.ts <rows> <file>");

const out = createWriteStream(path);
const plans = ["free", "pro", "enterprise"];
for (let i = 0; i < count; i++) {
  const id = i % 50 === 49 ? `user_${i - 7}` : `user_${i}`;
  const row = i % 1000 === 999
    ? { user_id: id, metadata: { seats: "x".repeat(10_000) } } // over the 8,192-character limit
    : {
      user_id: id,
      company_id: `company_${i % 5000}`,
      metadata: {
        name: `User ${i}`,
        email: `user${i}@example.com`,
        plan: plans[i % 3],
        seats: i % 97,
        active: i % 2 === 0,
        created_at: new Date(Date.UTC(2024, 0, 1) + i * 60_000).toISOString(),
      },
    };
  if (!out.write(`${JSON.stringify(row)}\n`)) await once(out, "drain");
}
out.end();
await once(out, "finish");
process.stderr.write(`wrote ${count} rows to ${path}\n`);
