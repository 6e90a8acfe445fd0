import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { DEV_ADMIN_KEY, freePort } from "../scripts/local-stack.ts";

// What a new user does: `npm start`, paste the printed signed curl, see the user in the sandbox.
const persist = mkdtempSync(join(tmpdir(), "userpilot-stack-"));
let child: ChildProcess | undefined;

afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((resolve) => child!.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  }
  rmSync(persist, { recursive: true, force: true });
});

test("npm start serves the stack, and the printed signed curl lands the user in the sandbox", async () => {
  const [workerPort, sandboxPort] = [await freePort(), await freePort()];
  child = spawn("node_modules/.bin/tsx", ["scripts/start.ts"], {
    cwd: new URL("..", import.meta.url),
    env: {
      ...process.env,
      WORKER_PORT: String(workerPort),
      SANDBOX_PORT: String(sandboxPort),
      PERSIST_TO: persist,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const deadline = Date.now() + 90_000;
  while (!output.includes("Ctrl-C stops everything")) {
    if (child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`npm start did not come up:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  // The operator's page and the key to open it with.
  expect(output).toContain(`http://127.0.0.1:${workerPort}/admin\n`);
  expect(output).toContain(`password: the admin key ${DEV_ADMIN_KEY}`);
  const signed = output.split("\n").find((line) => line.startsWith("body='"));
  expect(signed).toBeDefined();
  expect(execFileSync("bash", ["-c", signed!], { encoding: "utf8" })).toBe('{"accepted":1}');
  let profile: unknown;
  while (Date.now() < deadline) {
    const response = await fetch(`http://127.0.0.1:${sandboxPort}/__sandbox/users/user_123`);
    if (response.status === 200) {
      profile = await response.json();
      break;
    }
    await response.arrayBuffer();
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  expect(profile).toEqual({
    user_id: "user_123",
    company_id: "acme",
    metadata: { name: "John Smith", plan: "pro" },
  });
}, 120_000);
