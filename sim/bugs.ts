/**
 * Planted bugs: small patches to the engine, each a way it could break a promise, that the
 * simulator must catch within the CI seed budget. A simulator that passes with a bug in it is
 * the one defect that hides all others, so the test suite applies each in turn (to a copy of the
 * sources) and expects the simulator to fail.
 * @module
 */
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** One planted bug: where, what to find (exactly once), what to put instead. */
export interface PlantedBug {
  readonly name: string;
  readonly file: string;
  readonly find: string;
  readonly replace: string;
}

/** The planted bugs. */
export const PLANTED_BUGS: readonly PlantedBug[] = [
  {
    name: "the merge ignores the acceptance stamp (the latest arrival wins)",
    file: "src/worker/store/row-fields.ts",
    find: "if (current === undefined || current[1] < field[1]) {",
    replace: "if (true) {",
  },
  {
    name: "the purge deletes rows that are still pending",
    file: "src/worker/store/backlog.ts",
    find: "DELETE FROM rows WHERE pending_since IS NULL AND settled_at < ?",
    replace: "DELETE FROM rows WHERE coalesce(settled_at, 0) < ?",
  },
  {
    name: "a job that ends without completing keeps its profiles' fingerprints",
    file: "src/worker/store/job-in-flight.ts",
    find: 'if (effect.type !== "keep" && effect.type !== "settle") this.#forgetCarried();',
    replace: "",
  },
  {
    name: "an event goes before its user's identify",
    file: "src/worker/store/events.ts",
    find: "AND r.pending_since IS NOT NULL AND r.pending_since <= e.accepted_at)",
    replace: "AND 0)",
  },
  {
    name: "the consumer acks a Queue batch before the object has stored it",
    file: "src/worker/consumer.ts",
    find: "    const rows = await target.enqueue(bodies);",
    replace: "    batch.ackAll();\n    const rows = await target.enqueue(bodies);",
  },
  {
    name: "the fresh lane never yields to the suspects",
    file: "src/core/delivery-policy.ts",
    find: ': state.lastLane === "fresh"\n    ? "suspect"\n    : "fresh";',
    replace: ': "fresh";',
  },
  {
    name: "what was delivered after a delete is not sent again once Userpilot has run it",
    file: "src/worker/store/delivery-store.ts",
    find: "        this.backlog.oweAgainAfter(kind, id, deletedAt, now);\n",
    replace: "",
  },
  {
    name: "the purge has no caller (storage grows with every row, event and delete)",
    file: "src/worker/delivery/engine.ts",
    find: "    if (now - this.#lastPurge > purgeEveryMs) this.#purge(settings, now);",
    replace: "    void this.#purge;",
  },
];

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/**
 * A copy of the sources with `bug` planted, inside the project (so its imports resolve to the
 * project's node_modules): returns the copy's root. Throws if the patch no longer applies.
 */
export function plant(bug: PlantedBug): string {
  const copy = join(ROOT, ".sim-bugs", PLANTED_BUGS.indexOf(bug).toString());
  rmSync(copy, { recursive: true, force: true });
  mkdirSync(copy, { recursive: true });
  for (const part of ["src", "sim", "mod.ts"]) {
    cpSync(join(ROOT, part), join(copy, part), { recursive: true });
  }
  const path = join(copy, bug.file);
  const text = readFileSync(path, "utf8");
  const found = text.split(bug.find).length - 1;
  if (found !== 1) {
    throw new Error(`planted bug "${bug.name}": ${bug.file} holds its text ${found} times, not once`);
  }
  writeFileSync(path, text.replace(bug.find, bug.replace));
  return copy;
}
