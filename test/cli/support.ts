/**
 * Helpers for the CLI tests: a sandbox on a real socket on 127.0.0.1, and the real CLI run as a
 * child process on Node (through tsx), Deno or Bun.
 */
import { serve } from "@hono/node-server";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, beforeEach } from "vitest";
import { createSandbox, type SandboxOptions } from "../../src/sandbox/mod.ts";

export const ROOT: string = fileURLToPath(new URL("../../", import.meta.url));
export const FIXTURES: string = join(ROOT, "test/fixtures/cli");

/** A key that must never show up in any output. */
export const API_KEY = "cli-test-key-3fZq81-must-never-be-printed";

/** Flags that make a run fast against the sandbox: tiny polls and backoffs. */
export const FAST = ["--poll-interval", "5", "--retry-delay", "1"];

export interface Sandbox {
  readonly baseUrl: string;
  get<T = unknown>(path: string): Promise<T>;
  post(path: string, body?: unknown): Promise<void>;
  reset(): Promise<void>;
  close(): Promise<void>;
}

/** The sandbox served on 127.0.0.1 on a free port, fast unless told otherwise. */
export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const app = createSandbox({ rowsPerMinute: 600_000, queueMs: 5, seed: 5, apiKeys: [API_KEY], ...options });
  const server = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 });
  // Idle sockets are closed by the client, never by this server: a test's request then never
  // meets a kept-alive socket the server is closing at that moment (ECONNRESET on a loaded box).
  (server as Server).keepAliveTimeout = 0;
  await new Promise((resolve) => server.once("listening", resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const post = async (path: string, body?: unknown): Promise<void> => {
    const response = await fetch(`${baseUrl}${path}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body ?? {}),
    });
    if (!response.ok) throw new Error(`POST ${path} answered ${response.status}`);
    await response.body?.cancel();
  };
  return {
    baseUrl,
    async get<T>(path: string): Promise<T> {
      const response = await fetch(`${baseUrl}${path}`);
      return (await response.json()) as T;
    },
    post,
    reset: () => post("/__sandbox/reset"),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Keep-alive sockets of the test's own fetches would hold close() open.
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}

export type Runtime = "node" | "deno" | "bun";

const COMMANDS: Record<Runtime, [string, string[]]> = {
  // tsx as an import hook: one process, so signals reach the CLI itself.
  node: [process.execPath, ["--import", "tsx", "src/cli/main.ts"]],
  deno: [
    join(ROOT, "node_modules/.bin/deno"),
    [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-net=127.0.0.1",
      // --from-postgres: the URL from DATABASE_URL, and PG*, libpq's variables, which postgres.js reads.
      "--allow-env=USERPILOT_API_KEY,USERPILOT_BASE_URL,DATABASE_URL,PG*",
      "src/cli/main.ts",
    ],
  ],
  bun: [join(ROOT, "node_modules/.bin/bun"), ["src/cli/main.ts"]],
};

export interface RunOptions {
  readonly runtime?: Runtime;
  /** Extra environment; `USERPILOT_*` from the test's own environment is never passed on. */
  readonly env?: Record<string, string>;
  /** Written to the CLI's standard input (which is otherwise empty). */
  readonly stdin?: string;
  /** Called with each stdout line as it arrives (for `--json` progress), and the child. */
  readonly onLine?: (line: string, child: ChildProcess) => void;
}

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** The `--json` lines of stdout, parsed. */
  readonly events: Record<string, unknown>[];
}

/** Run `userpilot-bulk <args>` as a child process and wait for it to exit. */
export function runCli(args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const [command, prefix] = COMMANDS[options.runtime ?? "node"];
  const env: Record<string, string> = { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" };
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !key.startsWith("USERPILOT_")) env[key] = value;
  }
  Object.assign(env, options.env);
  const child = spawn(command, [...prefix, ...args], { cwd: ROOT, env, stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  let pending = "";
  child.stdout.setEncoding("utf8");
  child.stderr.setEncoding("utf8");
  child.stdout.on("data", (text: string) => {
    stdout += text;
    pending += text;
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) options.onLine?.(line, child);
  });
  child.stderr.on("data", (text: string) => {
    stderr += text;
  });
  child.stdin.end(options.stdin ?? "");
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => {
      const events = stdout.split("\n").filter((line) => line.startsWith("{")).map((line) =>
        JSON.parse(line)
      );
      resolve({ code, stdout, stderr, events });
    });
  });
}

/** The `--json` summary line of a run. */
export function summaryOf(result: RunResult): Record<string, unknown> {
  const summary = result.events.find((event) => event["type"] === "summary");
  if (summary === undefined) throw new Error(`no summary in stdout; stderr: ${result.stderr}`);
  return summary;
}

/**
 * What every CLI test file sets up: a sandbox started before its tests, reset before each and
 * closed after them, a temporary directory, the CLI's environment, and the sandbox's stats.
 */
export function sandboxForFile(options: SandboxOptions = {}): {
  sandbox: Sandbox;
  tmp: { path: string; remove: () => void };
  env: () => Record<string, string>;
  stats: () => Promise<Stats>;
} {
  const tmp = temporaryDirectory();
  let current: Sandbox | undefined;
  const started = (): Sandbox => {
    if (current === undefined) throw new Error("the sandbox starts in beforeAll");
    return current;
  };
  beforeAll(async () => {
    current = await startSandbox(options);
  });
  afterAll(async () => {
    await current?.close();
    tmp.remove();
  });
  beforeEach(() => started().reset());
  const sandbox: Sandbox = {
    get baseUrl() {
      return started().baseUrl;
    },
    get: (path) => started().get(path),
    post: (path, body) => started().post(path, body),
    reset: () => started().reset(),
    close: () => started().close(),
  };
  return {
    sandbox,
    tmp,
    env: () => ({ USERPILOT_API_KEY: API_KEY, USERPILOT_BASE_URL: started().baseUrl }),
    stats: () => started().get<Stats>("/__sandbox/stats"),
  };
}

/** A temporary directory, removed by the returned function. */
export function temporaryDirectory(): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), "userpilot-bulk-cli-"));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Profiles as the sandbox lists them, sorted by id. */
export type Profile = { user_id?: string; company_id?: string; metadata: Record<string, unknown> };

export async function profiles(sandbox: Sandbox, kind: "users" | "companies" = "users"): Promise<Profile[]> {
  const list = await sandbox.get<Profile[]>(`/__sandbox/${kind}`);
  const id = (profile: Profile): string => (kind === "users" ? profile.user_id : profile.company_id) ?? "";
  return list.sort((a, b) => id(a).localeCompare(id(b)));
}

export type Stats = {
  requests: number;
  jobs: { created: number; completed: number; failed: number };
  rows: { received: number; applied: number };
  faults: Record<string, number>;
};
