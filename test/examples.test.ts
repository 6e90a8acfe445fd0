import { execFile, execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { createUserpilotMiddleware } from "../examples/edge-middleware.ts";
import honoWorker from "../examples/hono-worker.ts";
import {
  DEV_INGEST_KEY,
  DEV_SIGNING_SECRET,
  freePort,
  type LocalStack,
  startLocalStack,
} from "../scripts/local-stack.ts";
import { SANDBOX_API_KEY } from "../src/sandbox/mod.ts";
import { startListeningServer } from "./support/listening-server.ts";

// Asynchronous: the sandbox these children call runs in this process, so it must keep answering.
const run = promisify(execFile);

// The package as npm would publish it, installed into an empty project, and every example run
// against the local stack (sandbox + wrangler dev), as a user would run them.
const root = new URL("..", import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), "userpilot-examples-"));
// Packed once for every system test (test/support/packed.global.ts).
const tarball = inject("tarball");
const packed = inject("packedFiles");
let stack: LocalStack;

beforeAll(async () => {
  const project = join(work, "project");
  execFileSync("mkdir", ["-p", project]);
  writeFileSync(
    join(project, "package.json"),
    JSON.stringify({ name: "consumer", private: true, type: "module" }),
  );
  execFileSync("npm", ["install", tarball, "--no-audit", "--no-fund", "--prefer-offline"], {
    cwd: project,
    stdio: "ignore",
  });
  copyFileSync(join(root, "examples/node.mjs"), join(project, "node.mjs"));
  stack = await startLocalStack({
    workerPort: await freePort(),
    sandboxPort: await freePort(),
    rowsPerMinute: 600_000,
    persistTo: join(work, "state"),
  });
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  rmSync(work, { recursive: true, force: true });
});

const env = () => ({
  ...process.env,
  USERPILOT_INGEST_URL: stack.workerUrl,
  USERPILOT_INGEST_KEY: DEV_INGEST_KEY,
  USERPILOT_INGEST_SIGNING_SECRET: DEV_SIGNING_SECRET,
});

async function arrived(
  kind: "users" | "companies",
  id: string,
): Promise<{ metadata: Record<string, unknown> }> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const response = await fetch(`${stack.sandboxUrl}/__sandbox/${kind}/${id}`);
    if (response.status === 200) return (await response.json()) as { metadata: Record<string, unknown> };
    await response.arrayBuffer();
    if (Date.now() > deadline) throw new Error(`${id} never reached the sandbox`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("the npm package", () => {
  test("holds the built JS, types and docs; no sources, tests or secrets", () => {
    for (
      const path of [
        "dist/mod.js",
        "dist/mod.d.ts",
        "dist/src/worker/index.js",
        "dist/src/hono/mod.d.ts",
        "dist/src/sandbox/mod.js",
        "README.md",
        "LICENSE",
        "package.json",
      ]
    ) {
      expect(packed).toContain(path);
    }
    expect(
      packed.filter((path) => path.startsWith("test/") || path.startsWith("src/") || path.includes(".test.")),
    ).toEqual([]);
    expect(packed.filter((path) => path.endsWith(".ts") && !path.endsWith(".d.ts"))).toEqual([]);
    // The OpenAPI document ships generated; its generator (and @valibot/to-json-schema) does not.
    expect(packed).toContain("dist/src/worker/ingest/openapi-document.js");
    expect(packed.filter((path) => path.includes("openapi/document"))).toEqual([]);
    expect(packed.filter((path) => /(^|\/)\.dev\.vars$|\.env$/.test(path))).toEqual([]);
  });

  test("publint and arethetypeswrong find nothing wrong in the tarball", () => {
    // On the packed file, offline: publint would otherwise pack (and so rebuild dist/) again.
    expect(
      execFileSync("node_modules/.bin/publint", ["run", tarball, "--strict"], {
        cwd: root,
        encoding: "utf8",
      }),
    )
      .toContain("All good");
    // Exits non-zero on any problem for ESM consumers (this package is ESM-only).
    execFileSync("node_modules/.bin/attw", [tarball, "--profile", "esm-only"], {
      cwd: root,
      stdio: "ignore",
    });
  });
});

describe("examples against the local stack", () => {
  test("Node, importing the installed tarball", async () => {
    const output = execFileSync("node", ["node.mjs"], {
      cwd: join(work, "project"),
      env: env(),
      encoding: "utf8",
    });
    expect(JSON.parse(output)).toEqual({ sent: 1, failed: 0, pending: 0 });
    expect((await arrived("users", "node_user")).metadata["runtime"]).toBe("node");
  });

  test("Deno", async () => {
    const output = execFileSync("node_modules/.bin/deno", [
      "run",
      "--allow-net=127.0.0.1",
      "--allow-env",
      "examples/deno.ts",
    ], {
      cwd: root,
      env: env(),
      encoding: "utf8",
    });
    expect(JSON.parse(output)).toEqual({ sent: 1, failed: 0, pending: 0 });
    expect((await arrived("users", "deno_user")).metadata["runtime"]).toBe("deno");
  });

  test("Bun", async () => {
    const output = execFileSync("node_modules/.bin/bun", ["examples/bun.ts"], {
      cwd: root,
      env: env(),
      encoding: "utf8",
    });
    expect(JSON.parse(output)).toEqual({ sent: 2, failed: 0, pending: 0 });
    expect((await arrived("users", "bun_user")).metadata["runtime"]).toBe("bun");
    expect((await arrived("companies", "bun_company")).metadata).toEqual({ plan: "pro" });
  });

  test("Next.js-style edge middleware: continues at once, identifies in the background", async () => {
    const middleware = createUserpilotMiddleware({ url: stack.workerUrl, signingSecret: DEV_SIGNING_SECRET });
    const waits: Promise<unknown>[] = [];
    const response = middleware(
      new Request("https://app.example.com/dashboard", { headers: { Cookie: "uid=edge_user; plan=pro" } }),
      { waitUntil: (promise) => waits.push(promise) },
    );
    expect(response.headers.get("x-middleware-next")).toBe("1");
    expect(await Promise.all(waits)).toEqual([{ sent: 1, failed: 0, pending: 0 }]);
    expect((await arrived("users", "edge_user")).metadata).toEqual({ plan: "pro", last_path: "/dashboard" });
  });

  test("Hono app on Workers with the userpilotIdentify middleware", async () => {
    const waits: Promise<unknown>[] = [];
    const ctx = {
      waitUntil: (promise: Promise<unknown>) => waits.push(promise),
      passThroughOnException: () => {},
      props: {},
    };
    const bindings = {
      USERPILOT_INGEST_URL: stack.workerUrl,
      USERPILOT_INGEST_SIGNING_SECRET: DEV_SIGNING_SECRET,
    };
    const response = await honoWorker.fetch(
      new Request("https://app.example.com/", { headers: { "X-Demo-User": "hono_user" } }),
      bindings,
      ctx,
    );
    expect(await response.text()).toBe("Hello hono_user@example.com");
    await Promise.all(waits);
    const profile = await arrived("users", "hono_user");
    expect(profile).toEqual({
      user_id: "hono_user",
      company_id: "hono_company",
      metadata: { email: "hono_user@example.com" },
    });
  });
});

describe("streaming and long-lived examples", () => {
  test("Deno: an async generator of 12,000 users streams into the sandbox, a window at a time", async () => {
    const { stdout } = await run("node_modules/.bin/deno", [
      "run",
      "--allow-net=127.0.0.1",
      "--allow-env",
      "examples/deno-stream.ts",
    ], {
      cwd: root,
      env: {
        ...env(),
        USERPILOT_API_KEY: SANDBOX_API_KEY,
        USERPILOT_BASE_URL: stack.sandboxUrl,
        USERS: "12000",
        POLL_INTERVAL_MS: "50",
      },
    });
    expect(JSON.parse(stdout)).toMatchObject({ users: 12_000, jobs: 2, rejected: 0 });
    const profiles = await stack.sandbox<{ user_id: string }[]>("/__sandbox/users");
    expect(profiles.filter((p) => p.user_id.startsWith("stream_user_"))).toHaveLength(12_000);
    expect((await arrived("users", "stream_user_11999")).metadata).toMatchObject({
      plan: "free",
      seats: 50,
      signed_up_at: new Date(Date.UTC(2024, 0, 1) + 11_999 * 60_000).toISOString(),
    });
  });

  test("Bun: a file read line by line streams into the sandbox", async () => {
    const file = join(work, "bun-users.ndjson");
    const lines = Array.from(
      { length: 3000 },
      (_, i) => JSON.stringify({ user_id: `file_user_${i}`, metadata: { i } }),
    );
    lines.splice(
      10,
      0,
      "not json",
      "",
      JSON.stringify({ user_id: "file_user_bad", metadata: { deep: { x: 1 } } }),
    );
    writeFileSync(file, `${lines.join("\n")}\n`);
    const { stdout, stderr } = await run("node_modules/.bin/bun", ["examples/bun-file.ts", file], {
      cwd: root,
      env: {
        ...env(),
        USERPILOT_API_KEY: SANDBOX_API_KEY,
        USERPILOT_BASE_URL: stack.sandboxUrl,
        POLL_INTERVAL_MS: "50",
      },
    });
    expect(stderr).toContain("line 11 is not JSON; skipped");
    expect(JSON.parse(stdout)).toEqual({
      jobs: 1,
      issueCount: 1,
      rejected: [{
        index: 10,
        path: "metadata.deep",
        message: expect.stringContaining("received an object"),
      }],
    });
    const profiles = await stack.sandbox<{ user_id: string }[]>("/__sandbox/users");
    expect(profiles.filter((p) => p.user_id.startsWith("file_user_"))).toHaveLength(3000);
  });

  test("Node server: one long-lived client batches identifies across requests; SIGTERM closes it and every row arrives", async () => {
    copyFileSync(join(root, "examples/node-server.mjs"), join(work, "project", "node-server.mjs"));
    const server = await startListeningServer("node", ["node-server.mjs"], {
      cwd: join(work, "project"),
      env: { ...env(), PORT: "0", FLUSH_AT: "100", FLUSH_INTERVAL_MS: "60000" },
    });
    const { port, lines } = server;
    for (let wave = 0; wave < 25; wave++) {
      await Promise.all(Array.from({ length: 10 }, async (_, i) => {
        const response = await fetch(`http://127.0.0.1:${port}/login`, {
          method: "POST",
          body: JSON.stringify({ user_id: `server_user_${wave * 10 + i}`, plan: "pro" }),
        });
        expect(response.status).toBe(204);
      }));
    }
    server.kill();
    expect(await server.exited).toBe(0);
    expect(server.stderr()).toBe("");
    // 250 rows: two bodies of flushAt (100) while serving, the last 50 sent by close().
    expect(JSON.parse(lines.at(-1)!)).toEqual({ sent: 250, failed: 0, pending: 0 });
    const deadline = Date.now() + 30_000;
    for (;;) {
      const profiles = await stack.sandbox<{ user_id: string }[]>("/__sandbox/users");
      if (profiles.filter((p) => p.user_id.startsWith("server_user_")).length === 250) break;
      if (Date.now() > deadline) throw new Error("not every server_user arrived");
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  });
});
