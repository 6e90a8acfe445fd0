/**
 * The whole thing, offline: the Userpilot sandbox and `wrangler dev` of the Worker, wired
 * together with development keys. Used by `npm start`, `npm run demo` and `npm run load`.
 */
import { serve } from "@hono/node-server";
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { createSandbox, SANDBOX_API_KEY } from "../src/sandbox/mod.ts";

/** Development credentials: fine on loopback, never in production. */
export const DEV_INGEST_KEY = "dev-ingest-key";
export const DEV_SIGNING_SECRET = "dev-signing-secret";

export interface LocalStack {
  readonly workerUrl: string;
  readonly sandboxUrl: string;
  stop(): Promise<void>;
}

export interface LocalStackOptions {
  workerPort?: number;
  sandboxPort?: number;
  rowsPerMinute?: number;
  /** Where wrangler keeps local Queue and Durable Object state. */
  persistTo?: string;
  /** Print wrangler's output (the Worker's JSON logs) as it comes. */
  verbose?: boolean;
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
  const sandbox = createSandbox({ rowsPerMinute: options.rowsPerMinute ?? 1200 });
  const server = serve({ fetch: sandbox.fetch, hostname: "127.0.0.1", port: sandboxPort });
  await new Promise<void>((resolve, reject) => {
    server.once("listening", () => resolve());
    server.once(
      "error",
      (error: Error) =>
        reject(new Error(`the sandbox could not listen on 127.0.0.1:${sandboxPort}: ${error.message}`)),
    );
  });
  const sandboxUrl = `http://127.0.0.1:${sandboxPort}`;
  const vars = {
    USERPILOT_API_KEY: SANDBOX_API_KEY,
    USERPILOT_BASE_URL: sandboxUrl,
    INGEST_KEYS: DEV_INGEST_KEY,
    INGEST_SIGNING_SECRETS: DEV_SIGNING_SECRET,
    ALLOWED_ORIGINS: "http://localhost:3000",
    POLL_INTERVAL_MS: "500",
    BACKOFF_BASE_MS: "200",
    BACKOFF_MAX_MS: "5000",
  };
  const args = [
    "dev",
    "--ip",
    "127.0.0.1",
    "--port",
    String(workerPort),
    "--inspector-port",
    "0",
    "--show-interactive-dev-session=false",
    "--persist-to",
    options.persistTo ?? ".wrangler/state",
    ...Object.entries(vars).flatMap(([key, value]) => ["--var", `${key}:${value}`]),
  ];
  const child = spawn("node_modules/.bin/wrangler", args, {
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const collect = (chunk: Buffer) => {
    const text = chunk.toString();
    if (options.verbose) process.stderr.write(text);
    else output = (output + text).slice(-20_000);
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
    await new Promise((resolve) => server.close(resolve));
  };
  try {
    await waitForHealth(workerUrl, child, 60_000);
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}\n--- wrangler output ---\n${output}`);
  }
  return { workerUrl, sandboxUrl, stop };
}

/** A port nothing listens on right now, for runs that must not clash with `npm start`. */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A shell command that signs a body with openssl at paste time, so it never expires. */
export function signedCurl(workerUrl: string, body: string): string {
  return [
    `body='${body}'`,
    `ts=$(date +%s)`,
    `sig=$(printf '%s.%s' "$ts" "$body" | openssl dgst -sha256 -hmac '${DEV_SIGNING_SECRET}' | sed 's/^.*= //')`,
    `curl -s -X POST ${workerUrl}/v1/identify -H 'Content-Type: application/json' -H "X-Signature-Timestamp: $ts" -H "X-Signature: v1=$sig" --data "$body"`,
  ].join("; ");
}
