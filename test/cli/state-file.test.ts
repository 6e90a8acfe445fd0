import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { parseCliArgs } from "../../src/cli/args.ts";
import { DeliveredState, type StateContext } from "../../src/cli/state-file.ts";
import { destinationPrint } from "../../src/cli/state-header.ts";
import { temporaryDirectory } from "./support.ts";

const tmp = temporaryDirectory();
afterAll(() => tmp.remove());

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 0, 1);
const KEY = "state-file-test-key-must-never-be-stored";
const destination = destinationPrint("https://analytex.userpilot.io", KEY);
const context = (changes: Partial<StateContext> = {}): StateContext => ({
  shaping: "users",
  destination,
  now: T0,
  ...changes,
});

/** A state at `name` holding ids 1 to `n` (row print `id * 10`), written by a full run at T0. */
function written(name: string, n: number): string {
  const path = join(tmp.path, name);
  const state = DeliveredState.open(path, context());
  expect(state.fullReason).toBe("no state yet");
  for (let id = 1; id <= n; id++) state.see(id, id, id * 10, 0);
  expect(state.save()).toBe(true);
  return path;
}

describe("the state is tied to its destination and its age", () => {
  test("another base URL or API key sends every row; the key itself is never in the file", () => {
    const path = written("destination.state", 3);
    expect(DeliveredState.open(path, context()).fullReason).toBeUndefined();
    const elsewhere = [
      destinationPrint("https://analytex-eu.userpilot.io", KEY),
      destinationPrint("https://analytex.userpilot.io", `${KEY}-staging`),
    ];
    for (const other of elsewhere) {
      const state = DeliveredState.open(path, context({ destination: other }));
      expect(state.fullReason).toBe("the destination changed: another base URL or API key");
      expect(state.see(1, 1, 10, 0)).toBe("send");
    }
    // A dry run without a key cannot tell: it does not check the destination.
    expect(DeliveredState.open(path, context({ destination: undefined })).fullReason).toBeUndefined();
    const text = readFileSync(path).toString("latin1");
    expect(text).not.toContain(KEY);
    expect(text).not.toContain("userpilot.io");
  });

  test("a last full send older than resendAfterMs, or dated in the future, sends every row", () => {
    const path = written("age.state", 2);
    const resendAfterMs = 168 * HOUR;
    expect(DeliveredState.open(path, context({ now: T0 + resendAfterMs })).fullReason).toBeUndefined();
    expect(DeliveredState.open(path, context({ now: T0 + resendAfterMs + 1 })).fullReason).toBe(
      "the last full send was 7.0 days ago, over --resend-after-hours 168",
    );
    expect(DeliveredState.open(path, context({ now: T0 + 3 * HOUR, resendAfterMs: 2 * HOUR })).fullReason)
      .toBe("the last full send was 3.0 hours ago, over --resend-after-hours 2");
    expect(DeliveredState.open(path, context({ now: T0 - 2 * HOUR })).fullReason).toBe(
      "the last full send was dated in the future (a clock changed?)",
    );
  });

  test("a run that is not full keeps the last full send; a full one dates it anew", () => {
    const path = written("keep.state", 2);
    const later = DeliveredState.open(path, context({ now: T0 + 100 * HOUR }));
    later.see(3, 3, 30, 0);
    expect(later.save()).toBe(true);
    // Still judged from T0: 100 + 100 hours is over 168.
    expect(DeliveredState.open(path, context({ now: T0 + 200 * HOUR })).fullReason).toMatch(
      /^the last full send was 8\.3 days ago/,
    );
    const full = DeliveredState.open(path, context({ now: T0 + 200 * HOUR, full: true }));
    for (let id = 1; id <= 3; id++) full.see(id, id, id * 10, 0);
    expect(full.save()).toBe(true);
    const fresh = DeliveredState.open(path, context({ now: T0 + 300 * HOUR }));
    expect(fresh.fullReason).toBeUndefined();
    expect(fresh.see(3, 3, 30, 0)).toBe("unchanged");
  });

  test("a file in the older format (1) sends every row rather than failing; --full replaces a damaged file", () => {
    const old = join(tmp.path, "v1.state");
    const header = new Uint8Array(32);
    header.set(new TextEncoder().encode("UPBSTATE"));
    new DataView(header.buffer).setUint32(8, 1, true);
    writeFileSync(old, header);
    expect(DeliveredState.open(old, context()).fullReason).toBe("the file is in an older format (1)");

    const path = written("damaged.state", 2);
    const bytes = readFileSync(path);
    writeFileSync(path, bytes.subarray(0, bytes.length - 4));
    expect(() => DeliveredState.open(path, context())).toThrow(/is damaged/);
    const full = DeliveredState.open(path, context({ full: true }));
    full.see(1, 1, 10, 0);
    expect(full.save()).toBe(true);
    expect(DeliveredState.open(path, context()).size).toBe(1);
  });
});

describe("rows settled by an earlier run (--resume) are not recorded", () => {
  test("an unchanged one keeps its entry; a changed one loses it, unless a later row of its id is recorded", () => {
    const path = written("resume.state", 4);
    const state = DeliveredState.open(path, context());
    expect(state.see(1, 1, 10, 0, false)).toBe("unchanged");
    expect(state.see(2, 2, 99, 0, false)).toBe("send"); // changed (or set aside: not known)
    expect(state.see(3, 3, 99, 0, false)).toBe("send");
    expect(state.see(3, 3, 30, 0)).toBe("send"); // back to its old row, after the change: goes, recorded
    expect(state.see(5, 5, 50, 0, false)).toBe("send"); // new, never recorded
    expect(state.save()).toBe(true);

    const next = DeliveredState.open(path, context());
    expect(next.size).toBe(3); // ids 1, 3 and 4
    expect(next.see(1, 1, 10, 0)).toBe("unchanged");
    // Userpilot may have id 2's changed row: its old row must go again, not be left out.
    expect(next.see(2, 2, 20, 0)).toBe("send");
    expect(next.see(3, 3, 30, 0)).toBe("unchanged");
    expect(next.see(4, 4, 40, 0)).toBe("unchanged");
    expect(next.see(5, 5, 50, 0)).toBe("send");
    next.discard();
  });
});

test("--resend-after-hours: 168 by default, fractions allowed, needs --state", () => {
  const options = (args: string[]) => {
    const parsed = parseCliArgs(["users", "a.csv", ...args], {});
    if (!("options" in parsed)) throw new Error("not a run");
    return parsed.options;
  };
  expect(options(["--state", "s"]).resendAfterHours).toBe(168);
  expect(options(["--state", "s", "--resend-after-hours", "0.5"]).resendAfterHours).toBe(0.5);
  expect(() => options(["--resend-after-hours", "24"])).toThrow(
    "--resend-after-hours applies to --state only",
  );
  for (const bad of ["0", "-1", "1e3", "soon", "876001"]) {
    expect(() => options(["--state", "s", `--resend-after-hours=${bad}`])).toThrow(
      "--resend-after-hours must be a number of hours above 0",
    );
  }
});
