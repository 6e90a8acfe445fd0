/**
 * The local stack for benchmarks and the soak: the sandbox (in this process, on a free loopback
 * port) and `wrangler dev` of a Worker config, offline. The spawn follows
 * `scripts/local-stack.ts`; it is copied here because the benchmarks need what that helper does
 * not offer yet: another wrangler config (the bench Worker with its `/bare` route), other vars
 * (POLL_INTERVAL_MS, MAX_JOB_ATTEMPTS, backoff) and sandbox options (queueMs, faults, seed).
 */
import { serve } from "@hono/node-server";
import { type ChildProcess, spawn } from "node:child_process";
import type { Server } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:net";
import { DEV_INGEST_KEY, DEV_SIGNING_SECRET } from "../scripts/local-stack.ts";
import { createSandbox, SANDBOX_API_KEY, type SandboxOptions } from "../src/sandbox/mod.ts";

export { DEV_INGEST_KEY, DEV_SIGNING_SECRET };

export interface BenchStack {
  readonly workerUrl: string;
  readonly sandboxUrl: string;
  /** The Worker's DevTools inspector, when `inspect` was asked for. */
  readonly inspectorPort: number | undefined;
  /** Sandbox inspection and control, in process. */
  sandbox<T = unknown>(path: string, body?: unknown): Promise<T>;
  stop(): Promise<void>;
}

export interface BenchStackOptions {
  /** Wrangler config, relative to the repository root. Default `wrangler.toml`. */
  config?: string;
  /** Vars over the development defaults of `scripts/local-stack.ts`. */
  vars?: Record<string, string>;
  sandbox?: SandboxOptions;
  /** Print wrangler's output as it comes. */
  verbose?: boolean;
  /** Called with each line of wrangler's output (the Worker's JSON logs among them) as it arrives. */
  onLine?: (line: string) => void;
  /** Open the Worker's DevTools inspector on a free loopback port (`inspectorPort`), for profiling. */
  inspect?: boolean;
}

const ROOT = new URL("..", import.meta.url);

/** `count` distinct loopback ports nothing listens on, all held until all are chosen. */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () =>
      new Promise<ReturnType<typeof createServer>>((resolve) => {
        const server = createServer().listen(0, "127.0.0.1", () => resolve(server));
      })),
  );
  const ports = servers.map((server) => (server.address() as { port: number }).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

async function waitForHealth(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited with code ${child.exitCode}`);
    try {
      const response = await fetch(`${url}/health`);
      if (response.ok) return;
      await response.arrayBuffer();
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`the Worker did not answer ${url}/health within ${timeoutMs / 1000} s`);
}

/** Start the sandbox and `wrangler dev` on free loopback ports, with state in a temporary directory. */
export async function startBenchStack(options: BenchStackOptions = {}): Promise<BenchStack> {
  const [sandboxPort, workerPort, inspectorPort] = (await freePorts(3)) as [number, number, number];
  const app = createSandbox(options.sandbox);
  const server = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: sandboxPort });
  await new Promise<void>((resolve, reject) => {
    server.once("listening", () => resolve());
    server.once("error", reject);
  });
  const sandboxUrl = `http://127.0.0.1:${sandboxPort}`;
  const persist = mkdtempSync(join(tmpdir(), "userpilot-bench-"));
  const vars = {
    USERPILOT_API_KEY: SANDBOX_API_KEY,
    USERPILOT_BASE_URL: sandboxUrl,
    INGEST_KEYS: DEV_INGEST_KEY,
    INGEST_SIGNING_SECRETS: DEV_SIGNING_SECRET,
    ALLOWED_ORIGINS: "http://localhost:3000",
    POLL_INTERVAL_MS: "500",
    BACKOFF_BASE_MS: "200",
    BACKOFF_MAX_MS: "5000",
    ...options.vars,
  };
  const args = [
    "dev",
    "--config",
    options.config ?? "wrangler.toml",
    "--ip",
    "127.0.0.1",
    "--port",
    String(workerPort),
    "--inspector-port",
    String(options.inspect ? inspectorPort : 0),
    "--inspector-ip",
    "127.0.0.1",
    "--show-interactive-dev-session=false",
    "--persist-to",
    persist,
    ...Object.entries(vars).flatMap(([key, value]) => ["--var", `${key}:${value}`]),
  ];
  const child = spawn("node_modules/.bin/wrangler", args, {
    cwd: ROOT,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  let partial = "";
  const collect = (chunk: Buffer) => {
    const text = chunk.toString();
    if (options.verbose) process.stderr.write(text);
    else output = (output + text).slice(-20_000);
    if (options.onLine) {
      const lines = (partial + text).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) options.onLine(line);
    }
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const workerUrl = `http://127.0.0.1:${workerPort}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
    }
    (server as Server).closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    rmSync(persist, { recursive: true, force: true });
  };
  try {
    await waitForHealth(workerUrl, child, 90_000);
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}\n--- wrangler output ---\n${output}`);
  }
  const sandbox = async <T>(path: string, body?: unknown): Promise<T> => {
    const response = await app.fetch(
      new Request(`${sandboxUrl}${path}`, {
        method: body === undefined ? "GET" : "POST",
        headers: { "Content-Type": "application/json" },
        body: body === undefined ? null : JSON.stringify(body),
      }),
    );
    return (await response.json()) as T;
  };
  return { workerUrl, sandboxUrl, inspectorPort: options.inspect ? inspectorPort : undefined, sandbox, stop };
}
