import {
  type MetadataInput,
  type UserInput,
  UserpilotClient,
  type UserpilotClientOptions,
} from "../../mod.ts";
import { createSandbox, SANDBOX_API_KEY, type SandboxOptions } from "../../src/sandbox/mod.ts";

export const SANDBOX_URL = "http://sandbox.localhost";

/** A sandbox and a client wired together in memory: no sockets, fast clocks, tiny backoffs. */
export function inProcess(
  options: { sandbox?: SandboxOptions; client?: Partial<UserpilotClientOptions> } = {},
) {
  const sandbox = createSandbox({ rowsPerMinute: 600_000, queueMs: 5, seed: 7, ...options.sandbox });
  const fetch = async (request: Request): Promise<Response> => await sandbox.fetch(request);
  const client = new UserpilotClient({
    apiKey: SANDBOX_API_KEY,
    baseUrl: SANDBOX_URL,
    fetch,
    pollIntervalMs: 5,
    retry: { baseDelayMs: 1, maxDelayMs: 20 },
    ...options.client,
  });
  const inspect = async <T = unknown>(
    path: string,
    init?: RequestInit,
  ): Promise<{ status: number; body: T }> => {
    const response = await sandbox.fetch(new Request(`${SANDBOX_URL}${path}`, init));
    return { status: response.status, body: (await response.json()) as T };
  };
  const setFaults = (faults: Record<string, number>) =>
    inspect("/__sandbox/faults", {
      method: "POST",
      body: JSON.stringify(faults),
      headers: { "Content-Type": "application/json" },
    });
  return { sandbox, client, fetch, inspect, setFaults };
}

/** A row as tests write them (test/worker's among them): any metadata values. */
type Row = {
  user_id: string;
  company_id?: string | undefined;
  metadata?: Record<string, unknown> | undefined;
};
type Expected = { user_id: string; company_id?: string; metadata: Record<string, unknown> };

/**
 * What Userpilot should hold after every row is applied in order: written without the core's
 * coalescer, so the two check each other.
 */
export function expectedProfiles(rows: readonly Row[]): Expected[] {
  const profiles = new Map<string, Expected>();
  for (const row of rows) {
    const profile = profiles.get(row.user_id) ?? { user_id: row.user_id, metadata: {} };
    if (row.company_id !== undefined) profile.company_id = row.company_id;
    for (const [key, value] of Object.entries(row.metadata ?? {})) {
      if (value === null) delete profile.metadata[key];
      else profile.metadata[key] = value instanceof Date ? value.toISOString() : value;
    }
    profiles.set(row.user_id, profile);
  }
  return [...profiles.values()].sort((a, b) => a.user_id.localeCompare(b.user_id));
}

/** Deterministic traffic: `count` updates over `distinct` users, with nulls and company moves. */
export function syntheticUpdates(count: number, distinct: number, seed = 1): UserInput[] {
  let state = seed;
  const next = () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
  const rows: UserInput[] = [];
  for (let i = 0; i < count; i++) {
    const id = `user_${Math.floor(next() * distinct)}`;
    const metadata: MetadataInput = { plan: ["free", "pro", "enterprise"][i % 3]!, seen: i };
    if (next() < 0.2) metadata["nickname"] = null;
    else if (next() < 0.5) metadata["nickname"] = `nick ${i}`;
    const row: UserInput = { user_id: id, metadata };
    if (next() < 0.3) row.company_id = `company_${Math.floor(next() * 5)}`;
    rows.push(row);
  }
  return rows;
}
