import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { DEV_ADMIN_KEY, DEV_INGEST_KEY, freePort, startLocalStack } from "../scripts/local-stack.ts";
import { SANDBOX_API_KEY } from "../src/sandbox/mod.ts";

type Stats = { statuses: Record<string, number> };

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
  // The printed way to see an alert: revoke the sandbox's key, identify someone, and the local
  // receiver prints the verified alert.
  const revoke = output.split("\n").find((line) => line.includes("revokedKeys"));
  expect(revoke).toBeDefined();
  execFileSync("bash", ["-c", revoke!]);
  expect(execFileSync("bash", ["-c", signed!.replace("user_123", "user_456")], { encoding: "utf8" }))
    .toBe('{"accepted":1}');
  while (!output.includes("] userpilot_unauthorized raised (since ")) {
    if (Date.now() > deadline) throw new Error(`no alert was printed:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}, 120_000);

test(
  "alerts through the stack: signed (standardwebhooks verifies them), once per condition, resolved when it clears",
  async () => {
    const state = mkdtempSync(join(tmpdir(), "userpilot-alerts-"));
    const [workerPort, sandboxPort] = [await freePort(), await freePort()];
    const stack = await startLocalStack({
      workerPort,
      sandboxPort,
      persistTo: state,
      sandbox: { rowsPerMinute: 600_000, queueMs: 5, seed: 7 },
      // Three seconds of waiting is a stale backlog here, so a short outage shows the age alert.
      vars: { ALERT_BACKLOG_AGE_MINUTES: "0.05", BACKOFF_MAX_MS: "1000" },
      alerts: {},
    });
    const receiver = stack.alerts!;
    const admin = { Authorization: `Bearer ${DEV_ADMIN_KEY}`, "Content-Type": "application/json" };
    const post = async (path: string, body: unknown, headers: Record<string, string>) => {
      const response = await fetch(`${stack.workerUrl}${path}`, {
        method: "POST",
        headers,
        body: JSON.stringify(body),
      });
      expect(response.status, path).toBeLessThan(300);
      return await response.json();
    };
    const identify = (userId: string) =>
      post("/v1/identify", { user_id: userId, metadata: { plan: "pro" } }, {
        Authorization: `Bearer ${DEV_INGEST_KEY}`,
        "Content-Type": "application/json",
      });
    const status = async () =>
      (await (await fetch(`${stack.workerUrl}/v1/status`, { headers: admin })).json()) as {
        setAside: { count: number };
        pending: { users: number };
        alerts: { active: string[] };
      };
    const of = (type: string) =>
      receiver.alerts.filter((alert) => alert.type === type).map((alert) => alert.state);
    /** Wait (bounded: 60 s) until `done` holds, doing `meanwhile` between looks. */
    const until = async (
      what: string,
      done: () => boolean | Promise<boolean>,
      meanwhile?: () => Promise<unknown>,
    ) => {
      const deadline = Date.now() + 60_000;
      while (!(await done())) {
        if (Date.now() > deadline) {
          throw new Error(`${what}: not within 60 s; alerts ${JSON.stringify(receiver.alerts)}`);
        }
        await (meanwhile?.() ?? new Promise((resolve) => setTimeout(resolve, 200)));
      }
    };
    try {
      // A poison row: refused alone while others go through, set aside on that evidence; one alert.
      await stack.sandbox("/__sandbox/faults", { refuseIds: ["poison"] });
      await identify("poison");
      let traffic = 0;
      await until("the poison row set aside", async () => (await status()).setAside.count === 1, async () => {
        await identify(`traffic_${traffic++}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      });
      await until("the set-aside alert", () => of("set_aside").length > 0);
      const [raised] = receiver.alerts.filter((alert) => alert.type === "set_aside");
      expect(raised).toMatchObject({
        state: "raised",
        data: { total: 1, added: [{ kind: "users", count: 1 }] },
      });
      expect(JSON.stringify(raised)).not.toContain("poison");
      expect((await status()).alerts.active).toContain("set_aside");
      // More traffic, more delivery steps: still one alert for the condition.
      for (let i = 0; i < 5; i++) await identify(`after_${i}`);
      await until("the traffic delivered", async () => (await status()).pending.users === 0);
      expect(of("set_aside")).toEqual(["raised"]);
      await post("/v1/admin/set-aside/purge", { all: true }, admin);
      await until("the set-aside alert resolved", () => of("set_aside").length === 2);
      expect(of("set_aside")).toEqual(["raised", "resolved"]);

      // A revoked key: every retry is refused; one alert, then resolved once the key works again.
      await stack.sandbox("/__sandbox/faults", { revokedKeys: [SANDBOX_API_KEY] });
      await identify("while_revoked");
      const refused = async () => (await stack.sandbox<Stats>("/__sandbox/stats")).statuses["401"] ?? 0;
      await until("the unauthorized alert", () => of("userpilot_unauthorized").length > 0);
      const seen = await refused();
      await until("three more refused retries", async () => (await refused()) >= seen + 3);
      expect(of("userpilot_unauthorized")).toEqual(["raised"]);
      await stack.sandbox("/__sandbox/faults", {});
      await until("the unauthorized alert resolved", () => of("userpilot_unauthorized").length === 2);
      expect(of("userpilot_unauthorized")).toEqual(["raised", "resolved"]);
      await until("the backlog drained", async () => (await status()).pending.users === 0);
      await until("no condition active", async () => (await status()).alerts.active.length === 0);

      // A long outage: every call fails, the row waits past the threshold: the age alert.
      const before = of("backlog_age").filter((state) => state === "raised").length;
      await stack.sandbox("/__sandbox/faults", { rate5xx: 1 });
      await identify("during_outage");
      await until(
        "the backlog age alert",
        () => of("backlog_age").filter((state) => state === "raised").length > before,
      );
      expect(receiver.alerts.at(-1)).toMatchObject({
        type: "backlog_age",
        state: "raised",
        data: { thresholdSeconds: 3, pending: { users: 1 } },
      });
      await stack.sandbox("/__sandbox/faults", {});
      await until("the backlog age alert resolved", () => of("backlog_age").at(-1) === "resolved");
      // Every post verified (the receiver uses the standardwebhooks package; a bad one is refused).
      expect(receiver.refused).toBe(0);
    } finally {
      await stack.stop();
      rmSync(state, { recursive: true, force: true });
    }
  },
  240_000,
);
