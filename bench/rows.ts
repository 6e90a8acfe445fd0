/**
 * Realistic rows for the benchmarks: the fields of the original sample
 * (`test/fixtures/seed-bulk-identify.txt`), varied per user. Deterministic, runtime-neutral (the
 * seed is read from its inlined copy, so Deno and Bun need no file access).
 */
import { seedUsers } from "../examples/seed-rows.ts";
import { SEED_TEXT } from "../test/contract/seed-text.ts";

/** A bulk-identify user row as a caller builds it. */
export interface BenchRow {
  user_id: string;
  company_id?: string;
  metadata: Record<string, string | number | boolean | null | Date>;
}

const seed = seedUsers(SEED_TEXT) as BenchRow[];
const TITLES = ["Support Manager", "Support Specialist", "Engineer", "Account Executive", "Designer"];
const FIRST = ["John", "Emma", "Zoë", "Łukasz", "Aiko", "Omar", "Ana", "Björn"];
const LAST = ["Smith", "Davis", "García", "Müller", "Tanaka", "Okafor", "Nguyen", "O'Brien"];

/** A small LCG, so every runtime builds the same rows. */
function lcg(seedValue: number): () => number {
  let state = seedValue >>> 0;
  return () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 4294967296;
}

/**
 * `count` rows over `distinct` user ids (row i is user `i % distinct`), with the seed's nine
 * properties, about 5% of values `null`, a `Date` on every tenth row, and a few non-ASCII names.
 */
export function realisticRows(count: number, distinct: number = count, seedValue = 1): BenchRow[] {
  const random = lcg(seedValue);
  const template = seed[0]!.metadata;
  const keys = Object.keys(template);
  const rows: BenchRow[] = [];
  for (let i = 0; i < count; i++) {
    const user = i % distinct;
    const first = FIRST[user % FIRST.length]!;
    const last = LAST[Math.floor(user / FIRST.length) % LAST.length]!;
    const day = 1 + (user % 28);
    const metadata: BenchRow["metadata"] = {
      name: `${first} ${last}`,
      email: `${first.toLowerCase()}.${last.toLowerCase()}.${user}@techstartup.com`,
      job_title: TITLES[user % TITLES.length]!,
      tickets_created: `2024-01-${String(day).padStart(2, "0")}T08:00:00Z`,
      tickets_resolved: i % 10 === 0
        ? new Date(Date.UTC(2024, 0, day, 16, 30))
        : `2024-01-${String(day).padStart(2, "0")}T16:30:00Z`,
      tickets_pending: Math.floor(random() * 20),
      avg_resolution_time: Math.round(random() * 1000) / 100,
      customer_satisfaction: `${80 + Math.floor(random() * 20)}%`,
      escalation_count: Math.floor(random() * 15),
    };
    if (random() < 0.05) metadata[keys[Math.floor(random() * keys.length)]!] = null;
    rows.push({ user_id: `user_${user}`, company_id: `comp_${user % 500}`, metadata });
  }
  return rows;
}
