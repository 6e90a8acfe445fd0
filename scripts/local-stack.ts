/**
 * The whole thing, offline: the Userpilot sandbox and `wrangler dev` of the Worker, wired
 * together with development keys. Used by `npm start`, `npm run demo` and `npm run load`.
 */
import { serve } from "@hono/node-server";
import { type ChildProcess, spawn } from "node:child_process";
import type { Server } from "node:http";
import { createServer } from "node:net";
import { fromBase64, toHex } from "../src/core/encoding.ts";
import { createSandbox, SANDBOX_API_KEY, type SandboxOptions } from "../src/sandbox/mod.ts";
import {
  type AlertReceiver,
  DEV_ALERT_SECRET,
  type ReceivedAlert,
  startAlertReceiver,
} from "./alert-receiver.ts";

/**
 * Development credentials: fine on loopback, never in production (they are public). Long enough
 * for the settings' key checks; named `dev` (every ingest scope) and `operator` (a full admin key).
 */
export const DEV_INGEST_KEY = "dev-ingest-key-0f1e2d3c4b5a69788796a5b4c3d2e1f0";
/** whsec_ + base64 of "dev-signing-secret-for-local-use" (32 bytes). */
export const DEV_SIGNING_SECRET = "whsec_ZGV2LXNpZ25pbmctc2VjcmV0LWZvci1sb2NhbC11c2U=";
export const DEV_ADMIN_KEY = "dev-admin-key-5e4d3c2b1a0918273645f5e4d3c2b1a0";

export interface LocalStack {
  readonly workerUrl: string;
  readonly sandboxUrl: string;
  /** The local alert receiver the Worker posts to (`alerts` option), if one runs. */
  readonly alerts: AlertReceiver | undefined;
  /** Sandbox inspection and control (`/__sandbox/...`), in process: GET, or POST with a JSON body. */
  sandbox<T = unknown>(path: string, body?: unknown): Promise<T>;
  stop(): Promise<void>;
}

export interface LocalStackOptions {
  workerPort?: number;
  sandboxPort?: number;
  /** Shorthand for `sandbox.rowsPerMinute`. */
  rowsPerMinute?: number;
  /** Sandbox options (rate, queue delay, faults, seed). */
  sandbox?: SandboxOptions;
  /** Wrangler config, relative to the repository root. Default `wrangler.toml`. */
  config?: string;
  /** Worker vars over the development defaults below. */
  vars?: Record<string, string>;
  /** Open the Worker's DevTools inspector on this loopback port (profiling). Default: none. */
  inspectorPort?: number;
  /** Where wrangler keeps local Queue and Durable Object state. */
  persistTo?: string;
  /** Print wrangler's output (the Worker's JSON logs) as it comes. */
  verbose?: boolean;
  /** Called with each line of wrangler's output as it arrives. */
  onLine?: (line: string) => void;
  /**
   * Run a local alert receiver (`scripts/alert-receiver.ts`, verifying signatures) and point the
   * Worker's `ALERT_WEBHOOK_URL` at it; `onAlert` sees each alert as it arrives.
   */
  alerts?: { port?: number; onAlert?: (alert: ReceivedAlert) => void };
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

/** Start the sandbox and `wrangler dev`; resolves once the Worker answers `/health`. */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const sandboxPort = options.sandboxPort ?? 4010;
  const workerPort = options.workerPort ?? 8787;
  const app = createSandbox({ rowsPerMinute: options.rowsPerMinute ?? 1200, ...options.sandbox });
  const server = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: sandboxPort });
  await new Promise<void>((resolve, reject) => {
    server.once("listening", () => resolve());
    server.once("error", (error: Error) => {
      reject(new Error(`the sandbox could not listen on 127.0.0.1:${sandboxPort}: ${error.message}`));
    });
  });
  const sandboxUrl = `http://127.0.0.1:${sandboxPort}`;
  const alerts = options.alerts === undefined ? undefined : await startAlertReceiver(options.alerts);
  const vars = {
    USERPILOT_API_KEY: SANDBOX_API_KEY,
    USERPILOT_BASE_URL: sandboxUrl,
    INGEST_KEYS: `dev:identify+track+delete:${DEV_INGEST_KEY}`,
    INGEST_SIGNING_SECRETS: `dev-signed:identify+track+delete:${DEV_SIGNING_SECRET}`,
    ADMIN_KEYS: `operator:full:${DEV_ADMIN_KEY}`,
    ALLOWED_ORIGINS: "http://localhost:3000",
    POLL_INTERVAL_MS: "500",
    BACKOFF_BASE_MS: "200",
    BACKOFF_MAX_MS: "5000",
    ...(alerts === undefined
      ? {}
      : { ALERT_WEBHOOK_URL: alerts.url, ALERT_SIGNING_SECRET: DEV_ALERT_SECRET }),
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
    String(options.inspectorPort ?? 0),
    "--inspector-ip",
    "127.0.0.1",
    "--show-interactive-dev-session=false",
    "--persist-to",
    options.persistTo ?? ".wrangler/state",
    ...Object.entries(vars).flatMap(([key, value]) => ["--var", `${key}:${value}`]),
  ];
  const child = spawn("node_modules/.bin/wrangler", args, {
    cwd: new URL("..", import.meta.url),
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
    (server as Server).closeAllConnections(); // keep-alive sockets would hold close() open
    await new Promise((resolve) => server.close(resolve));
    await alerts?.stop();
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
  return { workerUrl, sandboxUrl, alerts, sandbox, stop };
}

/** `count` distinct loopback ports nothing listens on, all held until all are chosen. */
export async function freePorts(count: number): Promise<number[]> {
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

/** A port nothing listens on right now, for runs that must not clash with `npm start`. */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

/**
 * A shell command that signs a body the Standard Webhooks way with openssl at paste time (a fresh
 * id and timestamp), so it never expires. The HMAC key is the secret's bytes, given as hex.
 */
export function signedCurl(workerUrl: string, body: string): string {
  const hexKey = toHex(fromBase64(DEV_SIGNING_SECRET.slice("whsec_".length))!);
  return [
    `body='${body}'`,
    `id=msg_$(openssl rand -hex 12)`,
    `ts=$(date +%s)`,
    `sig=$(printf '%s.%s.%s' "$id" "$ts" "$body" | openssl dgst -sha256 -mac HMAC -macopt hexkey:${hexKey} -binary | base64)`,
    `curl -s -X POST ${workerUrl}/v1/identify -H 'Content-Type: application/json' -H "webhook-id: $id" -H "webhook-timestamp: $ts" -H "webhook-signature: v1,$sig" --data "$body"`,
  ].join("; ");
}
