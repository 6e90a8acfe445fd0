/**
 * A 1,000,000-row table streamed with bounded memory: the CLI reads it through its cursor,
 * validates and plans every row (`--dry-run`, so the test's time goes to PostgreSQL and the
 * pipeline rather than to the sandbox; BENCHMARKS.md §11 sends it) in a child process whose
 * V8 heap is capped at 64 MB. The same cap kills a reader that holds the result whole, which is
 * what the cap is there to catch.
 */
import { spawn } from "node:child_process";
import process from "node:process";
import postgres from "postgres";
import { expect, inject, test } from "vitest";
import { ROOT } from "../cli/support.ts";

const ROWS = 1_000_000;
const HEAP_MB = 64;
const QUERY = "select * from million";

/** Run node with a capped heap; its exit code, its output, and its peak RSS (printed by peak-rss.ts). */
function node(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; peakMb: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [`--max-old-space-size=${HEAP_MB}`, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    child.once("error", reject);
    child.once("close", (code) => {
      const peak = /PEAK_RSS_KB (\d+)/.exec(stderr);
      resolve({ code, stdout, peakMb: peak === null ? Number.NaN : Number(peak[1]) / 1024 });
    });
  });
}

test(
  "a 1,000,000-row table streams through the CLI in a 64 MB heap, where reading it whole cannot",
  async () => {
    const admin = postgres(inject("postgresAdminUrl"), { max: 1, onnotice: () => {} });
    try {
      await admin.unsafe(`
      create unlogged table million as select
        'user_' || lpad(g::text, 7, '0') as user_id, 'c' || (g % 5000) as company_id,
        (array['free', 'pro', 'team', 'enterprise'])[1 + g % 4] as plan, g % 200 as seats,
        (g % 1000) * 1.25 as mrr, g % 3 = 0 as active,
        timestamptz '2024-01-01' + g * interval '1 minute' as last_seen,
        'Name ' || g as name, 'user' || g || '@example.com' as email
      from generate_series(1, ${ROWS}) g;
      grant select on million to userpilot_sync;
    `).simple();
    } finally {
      await admin.end();
    }
    const url = inject("postgresUrl");

    // The control: the whole result in memory (postgres.js's plain await) dies under the cap.
    const whole = await node(
      [
        "--input-type=module",
        "-e",
        `import postgres from "postgres"; const sql = postgres(process.env.DATABASE_URL, { max: 1 });
       console.log((await sql.unsafe(${JSON.stringify(QUERY)})).length); await sql.end();`,
      ],
      { DATABASE_URL: url },
    );
    expect(whole.code).not.toBe(0);

    const streamed = await node(
      [
        "--import",
        "tsx",
        "--import",
        "./test/postgres/peak-rss.ts",
        "src/cli/main.ts",
        "users",
        "--from-postgres",
        "env:DATABASE_URL",
        "--query",
        QUERY,
        "--dry-run",
        "--json",
      ],
      { DATABASE_URL: url },
    );
    expect(streamed.code).toBe(0);
    const summary = JSON.parse(streamed.stdout.trim().split("\n").at(-1)!) as Record<string, unknown>;
    expect(summary).toMatchObject({
      status: "completed",
      rowsRead: ROWS,
      rowsRejected: 0,
      rowsPlanned: ROWS,
      jobs: 100,
    });
    // The heap is capped; the process as a whole (tsx, the engine, buffers) stays well under the
    // ~500 MB that holding the result takes without a cap.
    expect(streamed.peakMb).toBeLessThan(250);
  },
  180_000,
);
