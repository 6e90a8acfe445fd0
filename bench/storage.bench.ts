/**
 * The delivery object's storage over simulated days at the gateway's maximum rates: track at
 * 600 events a minute, a million distinct users updated once a day, and deletes; everything
 * delivered as it would be, and the object's purges run as the engine runs them (`retention.ts`).
 * The stores run on real SQLite (`node:sqlite`, through the simulator's adapter), in 10-minute
 * steps of virtual time; the database's size is read at the end of each day. It must be flat once
 * past the longest retention window that traffic fills (48 h for deletion tombstones).
 *
 *   node --import tsx bench/storage.bench.ts [--days N]     (7 by default; 90 for the figure)
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { beginJob, initialSlotState } from "../src/core/delivery-policy.ts";
import { ENGINE_LIMITS } from "../src/worker/delivery/limits.ts";
import { DELETION_RUN_MS, RETENTION } from "../src/worker/retention.ts";
import { DeliveryStore } from "../src/worker/store/index.ts";
import { SqliteStorage } from "../sim/sqlite-storage.ts";
import { POLICY_CONFIG } from "../test/support/policy-config.ts";
import { emit } from "./measure.ts";

const { values } = parseArgs({ options: { days: { type: "string", default: "7" } } });
const DAYS = Number(values.days);
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const STEP = 10 * MINUTE;
const EVENTS_PER_MINUTE = 600;
const USERS = 1_000_000;
const DELETES_PER_MINUTE = 10;
const STEPS_PER_DAY = DAY / STEP;
const USERS_PER_STEP = Math.ceil(USERS / STEPS_PER_DAY);
const FORGET_AFTER_MS = 90 * DAY; // FORGET_AFTER_DAYS' default

const storage = new SqliteStorage();
const start = Date.UTC(2026, 0, 1);
const store = new DeliveryStore(storage, start);
let eventCounter = 0;
let deleted = 0;
const sizes: number[] = [];
const started = performance.now();

for (let step = 0; step < DAYS * STEPS_PER_DAY; step++) {
  const now = start + (step + 1) * STEP;
  // A million users, each updated once a day: this step's slice of them, merged and delivered in
  // jobs of at most 10,000 rows (the fingerprints of what Userpilot has are kept).
  const first = (step % STEPS_PER_DAY) * USERS_PER_STEP;
  const rows = Array.from({ length: USERS_PER_STEP }, (_, i) => ({
    user_id: `user-${(first + i) % USERS}`,
    metadata: { plan: ["free", "pro", "team"][(step + i) % 3]!, seen: step },
  }));
  store.merge("users", rows, now - STEP / 2, now);
  for (;;) {
    const next = store.lanes.candidates("fresh", ENGINE_LIMITS.maxRowsPerJob);
    if (next === undefined || next.candidates.length === 0) break;
    const slot = {
      kind: next.kind,
      state: beginJob(initialSlotState(POLICY_CONFIG), "fresh", next.candidates.length, 1),
    };
    store.transaction(() => store.job.begin(next.kind, next.candidates, slot.state));
    store.transaction(() => store.job.apply({ type: "settle" }, slot, 4, now));
  }
  // Track at 600 a minute, each sent (its id is kept for its retention).
  const events = Array.from({ length: EVENTS_PER_MINUTE * (STEP / MINUTE) }, () => {
    const n = eventCounter++;
    return { eventId: `e${n}`, event: { user_id: `user-${n % USERS}`, event_name: "clicked" } };
  });
  store.transaction(() => store.events.add(events, now - STEP / 2, () => null));
  store.transaction(() => {
    for (const event of store.events.ready(events.length, now, 0)) store.events.delivered(event.seq, now);
  });
  // Deletes at 10 ids a minute, forwarded, and rechecked once Userpilot's daily job has run them.
  const ids = Array.from({ length: DELETES_PER_MINUTE * (STEP / MINUTE) }, () => `gone-${deleted++}`);
  store.deleteIds("users", ids, now - STEP / 2);
  for (
    let batch = store.deletions.next(100, now);
    batch !== undefined;
    batch = store.deletions.next(100, now)
  ) {
    store.transaction(() => store.deletions.forwarded(batch.seqs, now));
  }
  while (store.recheckDeleted(now - DELETION_RUN_MS, 1_000, now) > 0);
  // The engine's purge, as often as it runs it (every `purgeEveryMs`, here every step).
  store.transaction(() => {
    store.backlog.purge(now - RETENTION.settledRowsMs);
    store.events.purge(now - RETENTION.deliveredEventsMs);
    store.deletions.purge(now - DELETION_RUN_MS);
  });
  while (
    store.transaction(() => store.fingerprints.forgetUnseen(now - FORGET_AFTER_MS, ENGINE_LIMITS.batch)) > 0
  );
  if ((step + 1) % STEPS_PER_DAY === 0) {
    sizes.push(storage.sql.databaseSize);
    process.stderr.write(`day ${sizes.length}: ${(sizes.at(-1)! / 2 ** 20).toFixed(1)} MiB\n`);
  }
}

const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
const settled = sizes[Math.min(2, sizes.length - 1)]!;
const last = sizes.at(-1)!;
emit({
  id: "12",
  name: `The delivery object's SQLite over ${DAYS} simulated days at the gateway's maximum rates`,
  figures: [
    ...sizes.map((bytes, day) => ({ label: `end of day ${day + 1}`, value: mib(bytes), unit: "MiB" })),
    {
      label: "growth from day 3 to the last day",
      value: Math.round(((last - settled) / settled) * 1000) / 10,
      unit: "%",
    },
    { label: "wall time", value: Math.round((performance.now() - started) / 100) / 10, unit: "s" },
  ],
  notes: [
    `${EVENTS_PER_MINUTE} events/min, ${
      USERS.toLocaleString("en-US")
    } users updated daily, ${DELETES_PER_MINUTE} deleted ids/min; ${
      (eventCounter / 1e6).toFixed(1)
    } M events, ${(deleted / 1e3).toFixed(0)} k deletes`,
    "SQLite pages are reused, not returned: the size is the high-water mark of live data, which the purges bound",
  ],
  target: "flat after the 48-hour window (growth from day 3 under 10%)",
  met: sizes.length >= 3 ? last <= settled * 1.1 : null,
});
