import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, inject, test } from "vitest";

// A project that uses the core and the CLI alone installs the tarball and gets valibot, nothing
// else: Hono is an optional peer (peerDependenciesMeta), which npm does not install by itself.
const work = mkdtempSync(join(tmpdir(), "userpilot-core-only-"));
const root = new URL("..", import.meta.url).pathname;

beforeAll(() => {
  writeFileSync(
    join(work, "package.json"),
    JSON.stringify({ name: "core-only", private: true, type: "module" }),
  );
  execFileSync("npm", ["install", inject("tarball"), "--no-audit", "--no-fund", "--prefer-offline"], {
    cwd: work,
    stdio: "ignore",
  });
  copyFileSync(join(root, "examples/users.csv"), join(work, "users.csv"));
}, 120_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

test("a core-only install has valibot and no hono in node_modules", () => {
  expect(existsSync(join(work, "node_modules/valibot/package.json"))).toBe(true);
  expect(existsSync(join(work, "node_modules/hono"))).toBe(false);
  const lock = JSON.parse(readFileSync(join(work, "package-lock.json"), "utf8")) as {
    packages: Record<string, unknown>;
  };
  expect(Object.keys(lock.packages).filter((path) => path.startsWith("node_modules/")).sort()).toEqual([
    "node_modules/userpilot-bulk",
    "node_modules/valibot",
  ]);
});

test("the core runs without hono: requests built, the ingest client sends", () => {
  const script = `
    import { buildBulkIdentifyRequests, createIngestClient } from "userpilot-bulk";
    const { requests } = buildBulkIdentifyRequests([{ user_id: "u1", metadata: { name: "Ada" } }], { apiKey: "key" });
    const sent = [];
    const client = createIngestClient({ url: "https://ingest.example.com", key: "k" }, {
      fetch: async (request) => { sent.push(request.headers.get("User-Agent")); return new Response("{}", { status: 202 }); },
    });
    client.identify({ user_id: "u1" });
    console.log(JSON.stringify({ url: requests[0].url, result: await client.flush(), sent }));
  `;
  const output = execFileSync("node", ["--input-type=module", "-e", script], { cwd: work, encoding: "utf8" });
  expect(JSON.parse(output)).toEqual({
    url: "https://analytex.userpilot.io/v1/users/bulk_identify",
    result: { sent: 1, failed: 0, pending: 0 },
    sent: [expect.stringMatching(/^userpilot-bulk\/\d+\.\d+\.\d+$/)],
  });
});

test("the CLI runs without hono", () => {
  const result = spawnSync(
    join(work, "node_modules/.bin/userpilot-bulk"),
    ["users", "users.csv", "--types", "seats=number,trial=boolean,created_at=date", "--dry-run", "--json"],
    { cwd: work, encoding: "utf8", env: { ...process.env, USERPILOT_API_KEY: "" } },
  );
  expect(result.stderr).toBe("");
  expect(result.status).toBe(0);
  const summary = JSON.parse(result.stdout.trim().split("\n").at(-1)!) as { type: string; rowsRead: number };
  expect(summary).toMatchObject({ type: "summary", rowsRead: 20 });
});
