import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { parseCliArgs } from "../src/cli/args.ts";
import { DEFAULT_POLL_INTERVAL_MS } from "../src/core/poll.ts";
import { deliveryConfig, realtimeConfig } from "../src/worker/delivery/config.ts";
import {
  AUTH_FAILURE_PERIOD_SECONDS,
  DEFAULT_ALERT_BACKLOG_AGE_MINUTES,
  DEFAULT_TUNING,
  readSettings,
  type Settings,
} from "../src/worker/settings.ts";

// Defaults live in one place: the settings schema (each a named constant of the core). Whatever
// reads the settings (a well configured Worker, a misconfigured one backing off, the CLI) gets
// them from there.
const KEY = "f3a9c2e87b1d4056a9e3c7b2d18f6e4a"; // openssl rand -hex 16: 32 characters, 128 bits
const CONFIGURED = { USERPILOT_API_KEY: "sandbox-api-key", INGEST_KEYS: KEY };

test("an env with no tuning vars gets the schema's defaults", () => {
  const read = readSettings(CONFIGURED);
  if (!read.ok) throw new Error(read.problems.join("; "));
  for (const [name, value] of Object.entries(DEFAULT_TUNING)) {
    expect(read.settings[name as keyof typeof DEFAULT_TUNING], name).toBe(value);
  }
  expect(DEFAULT_TUNING.pollIntervalMs).toBe(DEFAULT_POLL_INTERVAL_MS);
});

test("a misconfigured env still gets its tuning (or, if that is wrong too, the defaults) to back off with", () => {
  const broken = readSettings({ POLL_INTERVAL_MS: "250" });
  expect(broken.ok).toBe(false);
  if (broken.ok) return;
  expect(broken.problems.join("; ")).toMatch(/USERPILOT_API_KEY/);
  expect(broken.tuning).toEqual({ ...DEFAULT_TUNING, pollIntervalMs: 250 });
  expect(deliveryConfig(broken.tuning).pollIntervalMs).toBe(250);
  const worse = readSettings({ POLL_INTERVAL_MS: "soon" });
  expect(worse.ok === false && worse.tuning).toEqual(DEFAULT_TUNING);
  expect(realtimeConfig(DEFAULT_TUNING).track.intervalMs).toBe(60_000 / DEFAULT_TUNING.trackPerMinute);
});

test("the CLI polls at the core's default interval unless told otherwise", () => {
  const parsed = parseCliArgs(["users", "rows.ndjson"], {});
  expect("options" in parsed && parsed.options.pollIntervalMs).toBe(DEFAULT_POLL_INTERVAL_MS);
});

/** The settings of `env` (on top of a configured one), or the test fails with their problems. */
function settingsOf(env: Record<string, string>): Settings {
  const read = readSettings({ ...CONFIGURED, ...env });
  if (!read.ok) throw new Error(read.problems.join("; "));
  return read.settings;
}

/** The problems `env` (on top of a configured one) has. */
function problemsOf(env: Record<string, string>): string[] {
  const read = readSettings({ ...CONFIGURED, ...env });
  return read.ok ? [] : read.problems;
}

const keys = Array.from({ length: 6 }, (_, i) => `${i}c41f9e2b7a05d83e6f1a9c4b7d20e58${i}`);

describe("credentials: names and scopes", () => {
  test("a bare key keeps working as before, with identify and track, named by its position", () => {
    const settings = settingsOf({
      INGEST_KEYS: `${keys[0]}, segment:${keys[1]} ,backend:identify+track+delete:${keys[2]},${keys[3]}`,
    });
    expect(settings.ingestKeys).toEqual([
      { name: "ingest-key-1", scopes: ["identify", "track"], secret: keys[0] },
      { name: "segment", scopes: ["identify", "track"], secret: keys[1] },
      { name: "backend", scopes: ["identify", "track", "delete"], secret: keys[2] },
      { name: "ingest-key-4", scopes: ["identify", "track"], secret: keys[3] },
    ]);
  });

  test("signing secrets take the same names and scopes; a bare one identifies and tracks", () => {
    const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const settings = settingsOf({ INGEST_SIGNING_SECRETS: `${secret},edge:delete:${secret}` });
    expect(settings.signingSecrets).toEqual([
      { name: "signing-secret-1", scopes: ["identify", "track"], secret },
      { name: "edge", scopes: ["delete"], secret },
    ]);
  });

  test("admin keys are read-only or full; a bare key is full, as every admin key was", () => {
    const settings = settingsOf({ ADMIN_KEYS: `${keys[4]},viewer:read:${keys[5]},ops:full:${keys[0]}` });
    expect(settings.adminKeys).toEqual([
      { name: "admin-key-1", scopes: ["read", "full"], secret: keys[4] },
      { name: "viewer", scopes: ["read"], secret: keys[5] },
      { name: "ops", scopes: ["read", "full"], secret: keys[0] },
    ]);
  });

  test("a malformed entry is named by its list and position, never quoted", () => {
    const entries = {
      INGEST_KEYS: `${keys[0]},a:b:c:${keys[1]},segment:identify+trak:${keys[2]},bad name:${keys[3]}`,
      ADMIN_KEYS: `ops:superuser:${keys[4]}`,
    };
    const problems = problemsOf(entries);
    expect(problems).toEqual([
      "INGEST_KEYS entry 2 has more than two ':': write key, name:key or name:scopes:key",
      "INGEST_KEYS entry 3 has scopes other than identify, track, delete (joined by +)",
      "INGEST_KEYS entry 4 has a name that is not 1 to 64 letters, digits and . _ @ -",
      "ADMIN_KEYS entry 1 has scopes other than read, full (joined by +)",
    ]);
    for (const part of Object.values(entries).join(",").split(/[,:]/)) {
      if (part.length > 3) expect(problems.join("\n")).not.toContain(part);
    }
  });

  test("one name may not stand for an admin key and an ingest credential", () => {
    expect(problemsOf({ INGEST_KEYS: `ops:${keys[0]}`, ADMIN_KEYS: `ops:read:${keys[1]}` })).toEqual([
      "a name is given to an admin key and to an ingest credential: give each holder its own name",
    ]);
    // The same name on two keys of one list is a rotation: the holder's ids and audit entries stay its own.
    expect(settingsOf({ INGEST_KEYS: `app:${keys[0]},app:${keys[1]}` }).ingestKeys.map((key) => key.name))
      .toEqual(["app", "app"]);
  });
});

describe("alerts", () => {
  const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

  test("off unless ALERT_WEBHOOK_URL is set; the backlog threshold defaults to a named constant", () => {
    expect(settingsOf({}).alertWebhook).toBeNull();
    expect(settingsOf({}).alertBacklogAgeMs).toBe(DEFAULT_ALERT_BACKLOG_AGE_MINUTES * 60_000);
    expect(settingsOf({ ALERT_BACKLOG_AGE_MINUTES: "0.5" }).alertBacklogAgeMs).toBe(30_000);
    const url = "https://hooks.example.com/userpilot";
    expect(settingsOf({ ALERT_WEBHOOK_URL: url, ALERT_SIGNING_SECRET: secret }).alertWebhook).toEqual({
      url,
      secret,
    });
  });

  test("a URL without a usable secret (or a bad URL, or threshold) is a problem, named, the secret never quoted", () => {
    const url = "https://hooks.example.com/userpilot";
    expect(problemsOf({ ALERT_WEBHOOK_URL: url })).toEqual([
      "ALERT_SIGNING_SECRET is not set, but ALERT_WEBHOOK_URL is: alerts are signed (wrangler secret put ALERT_SIGNING_SECRET)",
    ]);
    const wrong = problemsOf({ ALERT_WEBHOOK_URL: url, ALERT_SIGNING_SECRET: "hunter2-not-a-secret" });
    expect(wrong).toEqual(["ALERT_SIGNING_SECRET must look like whsec_<base64>"]);
    expect(problemsOf({ ALERT_WEBHOOK_URL: "hooks.example.com", ALERT_SIGNING_SECRET: secret })).toEqual([
      "ALERT_WEBHOOK_URL must be an http(s) URL",
    ]);
    expect(problemsOf({ ALERT_BACKLOG_AGE_MINUTES: "soon" })).toEqual([
      "ALERT_BACKLOG_AGE_MINUTES must be a positive number",
    ]);
    // Named even when another setting is wrong too, so one deploy fixes everything.
    expect(readSettings({ ALERT_WEBHOOK_URL: url })).toMatchObject({
      ok: false,
      problems: expect.arrayContaining([expect.stringMatching(/^ALERT_SIGNING_SECRET is not set/)]),
    });
  });
});

describe("key strength", () => {
  test.each([
    ["a one-character admin key", { ADMIN_KEYS: "x" }, "ADMIN_KEYS entry 1 is shorter than 32 characters"],
    ["a one-character ingest key", { INGEST_KEYS: "x" }, "INGEST_KEYS entry 1 is shorter than 32 characters"],
    [
      "a key of one character repeated",
      { INGEST_KEYS: "k".repeat(40) },
      "INGEST_KEYS entry 1 looks less random",
    ],
    [
      "a key of two characters alternating",
      { ADMIN_KEYS: `ops:${"ab".repeat(30)}` },
      "ADMIN_KEYS entry 1 looks less random",
    ],
    [
      "a 31-digit number",
      { INGEST_KEYS: "1234567890123456789012345678901" },
      "INGEST_KEYS entry 1 is shorter",
    ],
    [
      "38 decimal digits (126 bits)",
      { INGEST_KEYS: "90817263541".repeat(4).slice(0, 38) },
      "INGEST_KEYS entry 1 looks less random",
    ],
    ["a key with a space", { INGEST_KEYS: `${keys[0]} and more` }, "INGEST_KEYS entry 1 holds spaces"],
  ])("%s is a settings problem, named without its value", (_, env, problem) => {
    const problems = problemsOf(env as Record<string, string>);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^${problem}`));
    if (!problem.includes("spaces")) expect(problems[0]).toContain("openssl rand -hex 32");
    const value = Object.values(env)[0]!.replace(/^ops:/, "");
    if (value.length > 1) expect(problems[0]).not.toContain(value);
  });

  test.each([
    ["32 hexadecimal characters (openssl rand -hex 16: 128 bits)", "f3a9c2e87b1d4056a9e3c7b2d18f6e4a"],
    ["base64 of 32 random bytes (openssl rand -base64 32)", "q1B7xk2ZPv9LmN3cR8sT0wYe4uHjAaGd5fKoEiU6XbQ="],
    ["a UUID-like key with a prefix", "up_live_4b1f8c2e-9d3a-4e57-8b6c-1a2f3e4d5c6b"],
  ])("%s is accepted", (_, key) => {
    expect(settingsOf({ INGEST_KEYS: key }).ingestKeys).toHaveLength(1);
  });
});

test("wrangler.toml binds AUTH_LIMITER with the period the Worker answers Retry-After with, and no warning is left", () => {
  const toml = readFileSync(new URL("../wrangler.toml", import.meta.url), "utf8");
  const binding =
    /\[\[ratelimits\]\]\nname = "AUTH_LIMITER"\nnamespace_id = "\d+"\nsimple = \{ limit = (\d+), period = (\d+) \}/
      .exec(toml);
  expect(binding?.[2]).toBe(String(AUTH_FAILURE_PERIOD_SECONDS));
  expect(Number(binding?.[1])).toBe(20); // test/worker/auth-limits.test.ts counts on it
  const read = readSettings({ ...CONFIGURED, ADMIN_KEYS: keys[4]!, AUTH_LIMITER: {} });
  expect(read.ok && read.warnings).toEqual([]);
  expect(readSettings({ ...CONFIGURED, ADMIN_KEYS: keys[4]! }).ok && readSettings(CONFIGURED)).toMatchObject({
    warnings: [
      expect.stringMatching(/^ADMIN_KEYS is not set/),
      expect.stringMatching(/^AUTH_LIMITER is not bound/),
    ],
  });
});
