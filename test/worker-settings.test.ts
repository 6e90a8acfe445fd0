import { expect, test } from "vitest";
import { parseCliArgs } from "../src/cli/args.ts";
import { DEFAULT_POLL_INTERVAL_MS } from "../src/core/poll.ts";
import { deliveryConfig, realtimeConfig } from "../src/worker/delivery/config.ts";
import { DEFAULT_TUNING, readSettings } from "../src/worker/settings.ts";

// Defaults live in one place: the settings schema (each a named constant of the core). Whatever
// reads the settings (a well configured Worker, a misconfigured one backing off, the CLI) gets
// them from there.
const CONFIGURED = { USERPILOT_API_KEY: "sandbox-api-key", INGEST_KEYS: "k".repeat(40) };

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
