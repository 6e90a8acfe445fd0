import { describe, expect, test } from "vitest";
import { verifySignature } from "../../src/core/signature.ts";
import { createSandbox, SANDBOX_API_KEY } from "../../src/sandbox/mod.ts";
import {
  ALERT_REMINDER_MS,
  ALERT_TIMEOUT_MS,
  type AlertPayload,
  STREAM_BLOCKED_FAILURES,
} from "../../src/worker/delivery/alerts.ts";
import { DeliveryEngine } from "../../src/worker/delivery/engine.ts";
import { readSettings } from "../../src/worker/settings.ts";
import { TEST_INGEST_KEYS } from "../support/credentials.ts";
import { HAS_SQLITE } from "./sqlite.ts";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const HOOK = "https://alerts.example/hook";

// The delivery engine over real SQLite in Node, a fake clock, the sandbox as Userpilot (or a
// Userpilot that answers 401), and a receiver that records what it is sent.
/** Set the sandbox's faults (none: `{}`). */
const faults = (sandbox: ReturnType<typeof createSandbox>, body: object) =>
  sandbox.request("/__sandbox/faults", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });

describe.runIf(HAS_SQLITE)("alerts from the delivery engine", async () => {
  const { SqliteStorage } = await import("../../sim/sqlite-storage.ts");

  function world(options: { revoked?: boolean; backlogAgeMinutes?: number } = {}) {
    const storage = new SqliteStorage();
    const time = { now: Date.UTC(2026, 11, 7, 12) };
    const sandbox = createSandbox({ rowsPerMinute: 600_000, queueMs: 0, now: () => time.now, seed: 1 });
    if (options.revoked) void faults(sandbox, { revokedKeys: [SANDBOX_API_KEY] });
    const received: AlertPayload[] = [];
    const receiver = {
      /** What the receiver does with the next post: answer, fail, or never answer. */
      mode: "ok" as "ok" | "fail" | "hang",
      posts: 0,
    };
    const background: Promise<unknown>[] = [];
    let alarm: number | null = null;
    const settings = readSettings({
      USERPILOT_API_KEY: SANDBOX_API_KEY,
      USERPILOT_BASE_URL: "http://userpilot.localhost",
      INGEST_KEYS: TEST_INGEST_KEYS,
      ALERT_WEBHOOK_URL: HOOK,
      ALERT_SIGNING_SECRET: SECRET,
      ALERT_BACKLOG_AGE_MINUTES: String(options.backlogAgeMinutes ?? 10),
      POLL_INTERVAL_MS: "10",
      BACKOFF_BASE_MS: "1000",
      BACKOFF_MAX_MS: "60000",
    });
    const start = () =>
      new DeliveryEngine({
        storage,
        clock: () => time.now,
        random: () => 0.5,
        fetch: async (request) => await sandbox.fetch(request),
        alertFetch: async (request) => {
          receiver.posts++;
          if (receiver.mode === "hang") return await new Promise<Response>(() => {});
          if (receiver.mode === "fail") return new Response("down", { status: 503 });
          const body = await request.text();
          const verified = await verifySignature(SECRET, body, request.headers, { now: time.now / 1000 });
          expect(verified.valid).toBe(true);
          expect(request.url).toBe(HOOK);
          received.push(JSON.parse(body));
          return new Response(null, { status: 204 });
        },
        background: (work) => background.push(work),
        alarm: {
          get: () => Promise.resolve(alarm),
          set: (at) => {
            alarm = at;
            return Promise.resolve();
          },
        },
        settings: () => settings,
        pause: () => Promise.resolve(),
        log: () => {},
      });
    const self = {
      time,
      sandbox,
      received,
      receiver,
      engine: start(),
      /** A new instance over the same storage, as after an eviction. */
      restart: () => void (self.engine = start()),
      /**
       * Run the alarm `times` times, each when it is due (moving the clock to it, unless it is
       * more than ten minutes away: a reminder's wake-up is not run unless a test moves the clock).
       */
      run: async (times = 1) => {
        for (let i = 0; i < times && alarm !== null && alarm - time.now <= 600_000; i++) {
          time.now = Math.max(time.now, alarm);
          alarm = null;
          await self.engine.alarm();
          await Promise.all(background.splice(0));
        }
      },
      get alarm() {
        return alarm;
      },
      /** Wait for the alert posts started in the background. */
      flush: async () => void await Promise.all(background.splice(0)),
      states: () => received.map((alert) => `${alert.type}:${alert.state}`),
    };
    return self;
  }

  const row = (id: string) => ({
    kind: "users" as const,
    rows: [{ user_id: id, metadata: { plan: "pro" } }],
    receivedAt: Date.UTC(2026, 11, 7, 12),
  });

  test("a revoked key: one alert while every retry fails, none again after a restart, a reminder, then resolved", async () => {
    const w = world({ revoked: true });
    await w.engine.enqueue([row("u1")]);
    await w.run(5);
    expect(w.states()).toEqual(["userpilot_unauthorized:raised"]);
    expect(w.received[0]!.data).toEqual({ status: 401 });
    expect(w.engine.status().alerts.active).toEqual(["userpilot_unauthorized"]);
    // A restart forgets nothing: the condition is in SQLite, so the retries after it alert no more.
    w.restart();
    await w.run(5);
    expect(w.states()).toEqual(["userpilot_unauthorized:raised"]);
    // Past the backlog threshold (10 min): its own alert, once.
    w.time.now += 11 * 60_000;
    await w.run(3);
    expect(w.states()).toEqual(["userpilot_unauthorized:raised", "backlog_age:raised"]);
    // Hours later, one reminder each (the alarm keeps running: delivery backs off at 60 s).
    w.time.now += ALERT_REMINDER_MS;
    await w.run(3);
    expect(w.states().slice(2).sort()).toEqual(["backlog_age:reminder", "userpilot_unauthorized:reminder"]);
    await w.run(20);
    expect(w.received).toHaveLength(4);
    // The key works again: the row is delivered, and both conditions clear, once each.
    await faults(w.sandbox, {});
    for (let i = 0; i < 40 && w.engine.status().pending.users > 0; i++) await w.run();
    await w.run(5);
    expect(w.engine.status().pending.users).toBe(0);
    expect(w.states().slice(4).sort()).toEqual(["backlog_age:resolved", "userpilot_unauthorized:resolved"]);
    expect(w.engine.status().alerts.active).toEqual([]);
  });

  test("after a restart, an overdue reminder of the key's alert does not spin the alarm before Userpilot answers", async () => {
    const w = world({ revoked: true });
    await w.engine.enqueue([row("u1")]);
    await w.run(5);
    expect(w.states()).toEqual(["userpilot_unauthorized:raised"]);
    const remindAt = Date.parse(w.received[0]!.timestamp) + ALERT_REMINDER_MS;
    // Every retry refused, backing off (30 s here), until the alarm is the reminder's.
    while (w.alarm !== null && w.alarm < remindAt) await w.run();
    expect(w.states().filter((state) => state.startsWith("userpilot_unauthorized"))).toHaveLength(1);
    // Restarted (a new secret, say) as the reminder falls due, the next retry still ahead: until
    // Userpilot answers again the key's state is unknown, and the alarm waits for that retry
    // instead of firing again a millisecond later, and again.
    w.restart();
    w.time.now = remindAt;
    await w.engine.alarm();
    expect(w.alarm! - w.time.now).toBeGreaterThan(1);
  });

  test("alerts go in the order they were made: a resolved waits for its raised to get through", async () => {
    const w = world({ revoked: true });
    w.receiver.mode = "fail";
    await w.engine.enqueue([row("u1")]);
    // Raised, posted, refused by the receiver again and again: its retry is minutes away.
    for (let i = 0; i < 100 && w.receiver.posts < 6; i++) await w.run();
    expect(w.receiver.posts).toBe(6);
    // The receiver is back and the key works again: resolved is made while raised still waits.
    w.receiver.mode = "ok";
    await faults(w.sandbox, {});
    for (let i = 0; i < 40 && w.engine.status().pending.users > 0; i++) await w.run();
    expect(w.engine.status().alerts.active).not.toContain("userpilot_unauthorized");
    for (let i = 0; i < 60 && w.received.length < 2; i++) {
      w.time.now += 60_000;
      await w.engine.alarm();
      await w.flush();
    }
    expect(w.states().filter((state) => state.startsWith("userpilot_unauthorized"))).toEqual([
      "userpilot_unauthorized:raised",
      "userpilot_unauthorized:resolved",
    ]);
  });

  test("a row set aside: one alert with counts and reasons (no values), resolved after a purge", async () => {
    const w = world({ backlogAgeMinutes: 24 * 60 });
    await faults(w.sandbox, { refuseIds: ["poison"] });
    await w.engine.enqueue([row("poison"), row("fine")]);
    // Set aside on evidence: refused alone while other rows go through (traffic meanwhile).
    for (let i = 0; i < 200 && w.engine.status().setAside.count === 0; i++) {
      await w.engine.enqueue([row(`traffic_${i}`)]);
      await w.run(3);
    }
    await w.run(5);
    expect(w.engine.status().setAside.count).toBe(1);
    expect(w.states()).toEqual(["set_aside:raised"]);
    const alert = w.received[0]!;
    expect(alert.data).toMatchObject({ total: 1, added: [{ kind: "users", count: 1 }] });
    expect(JSON.stringify(alert)).not.toContain("poison");
    expect(JSON.stringify(alert)).not.toContain("pro");
    await w.engine.purgeSetAside({ all: true });
    await w.run(2);
    expect(w.states()).toEqual(["set_aside:raised", "set_aside:resolved"]);
  });

  test("an events stream failing ten times in a row is blocked: one alert, resolved when it moves", async () => {
    const w = world({ backlogAgeMinutes: 24 * 60 });
    await w.engine.enqueue([row("u1")]);
    await w.run(10);
    await faults(w.sandbox, { rate5xx: 1 });
    const receivedAt = w.time.now;
    const event = (n: number) => ({
      eventId: `ev_${n}`,
      event: { user_id: "u1", event_name: "clicked", metadata: { n } },
    });
    await w.engine.enqueue([{ kind: "events", receivedAt, events: [event(1), event(2)] }]);
    for (let i = 0; i < 50 && w.received.length === 0; i++) await w.run();
    expect(w.states()).toEqual(["events_blocked:raised"]);
    expect(w.received[0]!.data).toEqual({ stream: "events", failures: STREAM_BLOCKED_FAILURES, pending: 2 });
    await w.run(10);
    expect(w.states()).toEqual(["events_blocked:raised"]);
    await faults(w.sandbox, {});
    for (let i = 0; i < 50 && w.engine.status().pending.events > 0; i++) await w.run();
    await w.run(2);
    expect(w.states()).toEqual(["events_blocked:raised", "events_blocked:resolved"]);
  });

  test("a receiver that fails is retried under its own backoff; one that never answers holds no job back", async () => {
    const w = world({ revoked: true, backlogAgeMinutes: 24 * 60 });
    w.receiver.mode = "fail";
    await w.engine.enqueue([row("u1")]);
    await w.run(3);
    const failed = w.receiver.posts;
    expect(failed).toBeGreaterThan(0);
    expect(w.received).toEqual([]);
    w.receiver.mode = "ok";
    await w.run(40);
    // Delivered once, at last (the webhook-id is the same on every attempt).
    expect(w.states()).toEqual(["userpilot_unauthorized:raised"]);
    // Now a receiver that hangs: the alarm still returns, and the row is delivered.
    w.receiver.mode = "hang";
    await faults(w.sandbox, {});
    const run = async () => {
      w.time.now = Math.max(w.time.now, w.alarm ?? w.time.now);
      await w.engine.alarm(); // the background posts are not awaited: they never settle
    };
    for (let i = 0; i < 40 && w.engine.status().pending.users > 0; i++) await run();
    expect(w.engine.status().pending.users).toBe(0);
    // The resolved alert waits on the hanging post: the alarm does not spin meanwhile.
    await run();
    expect(w.alarm! - w.time.now).toBeGreaterThanOrEqual(ALERT_TIMEOUT_MS);
    expect((await w.sandbox.request("/__sandbox/users/u1")).status).toBe(200);
  });
});
