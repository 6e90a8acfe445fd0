import type { ContractRow } from "./contract.ts";

/** A profile as the sandbox holds it after merging every completed row. */
export interface Profile {
  readonly id: string;
  company_id?: string;
  readonly metadata: Map<string, string | number | boolean>;
}

/** One bulk job, processed at the sandbox's `rowsPerMinute`. */
export interface SandboxJob {
  readonly job_id: string;
  readonly kind: "users" | "companies";
  readonly rows: readonly ContractRow[];
  readonly fileSize: number;
  readonly filename: string | null;
  readonly submittedAt: number;
  /** When processing starts (the job is `queued`, then `validating`, until then). */
  readonly startAt: number;
  /** If set, the job fails once this many rows are processed. */
  readonly failAt: number | undefined;
  /** Processing time per row, fixed when the job is created. */
  readonly msPerRow: number;
  status: "queued" | "validating" | "processing" | "completed" | "failed";
  applied: number;
  endAt: number | null;
}

/** An event as `POST /v1/track` received it. */
export interface TrackedEvent {
  readonly user_id: string;
  readonly event_name: string;
  readonly metadata: Record<string, string | number | boolean | null>;
  readonly at: number;
  /** Whether the user existed when the event arrived: Userpilot ignores events of unknown users. */
  readonly known: boolean;
}

/** A delete request: its ids are deleted by the daily job (`POST /__sandbox/run-deletions`). */
export interface DeletionRequest {
  readonly kind: "users" | "companies";
  readonly ids: readonly string[];
  readonly at: number;
  ran: boolean;
}

/** Counters served by `GET /__sandbox/stats`. */
export interface SandboxStats {
  requests: number;
  statuses: Record<string, number>;
  jobs: { created: number; completed: number; failed: number };
  rows: { received: number; applied: number };
  /** Real-time calls accepted, and the most accepted from one token within one rate-limit window. */
  realtime: { identify: number; companies: number; track: number; deletes: number; peakPerWindow: number };
  faults: { rateLimited: number; serverErrors: number; dropped: number; delayed: number; failedJobs: number };
}

function emptyStats(): SandboxStats {
  return {
    requests: 0,
    statuses: {},
    jobs: { created: 0, completed: 0, failed: 0 },
    rows: { received: 0, applied: 0 },
    realtime: { identify: 0, companies: 0, track: 0, deletes: 0, peakPerWindow: 0 },
    faults: { rateLimited: 0, serverErrors: 0, dropped: 0, delayed: 0, failedJobs: 0 },
  };
}

/** Everything the sandbox remembers; `reset()` forgets it. */
export class SandboxState {
  users: Map<string, Profile> = new Map();
  companies: Map<string, Profile> = new Map();
  jobs: Map<string, SandboxJob> = new Map();
  active: SandboxJob | undefined;
  events: TrackedEvent[] = [];
  deletions: DeletionRequest[] = [];
  /** Per token: the times of real-time calls within the current window, and of the last delete. */
  realtimeCalls: Map<string, number[]> = new Map();
  lastDelete: Map<string, number> = new Map();
  stats: SandboxStats = emptyStats();

  reset(): void {
    this.users = new Map();
    this.companies = new Map();
    this.jobs = new Map();
    this.active = undefined;
    this.events = [];
    this.deletions = [];
    this.realtimeCalls = new Map();
    this.lastDelete = new Map();
    this.stats = emptyStats();
  }

  /** The daily deletion job (about 02:00 UTC at Userpilot): delete every profile requested so far. */
  runDeletions(): number {
    let deleted = 0;
    for (const request of this.deletions) {
      if (request.ran) continue;
      const store = request.kind === "users" ? this.users : this.companies;
      for (const id of request.ids) if (store.delete(id)) deleted++;
      request.ran = true;
    }
    return deleted;
  }

  /** Move the running job forward to `now`, applying the rows it has processed since. */
  advance(now: number): void {
    const job = this.active;
    if (job === undefined) return;
    if (now < job.startAt) {
      job.status = now < (job.submittedAt + job.startAt) / 2 ? "queued" : "validating";
      return;
    }
    job.status = "processing";
    const processed = Math.min(job.rows.length, Math.floor((now - job.startAt) / job.msPerRow));
    const stop = job.failAt !== undefined ? Math.min(processed, job.failAt) : processed;
    for (; job.applied < stop; job.applied++) this.#apply(job.kind, job.rows[job.applied] as ContractRow);
    if (job.failAt !== undefined && processed >= job.failAt) {
      this.#finish(job, "failed", job.startAt + job.failAt * job.msPerRow);
    } else if (job.applied === job.rows.length) {
      this.#finish(job, "completed", job.startAt + job.rows.length * job.msPerRow);
    }
  }

  #finish(job: SandboxJob, status: "completed" | "failed", at: number): void {
    job.status = status;
    job.endAt = at;
    this.stats.jobs[status]++;
    if (status === "failed") this.stats.faults.failedJobs++;
    this.active = undefined;
  }

  #apply(kind: "users" | "companies", row: ContractRow): void {
    this.mergeProfile(kind === "users" ? this.users : this.companies, row);
    this.stats.rows.applied++;
  }

  /** Merge one row the way Userpilot does: `null` removes a key, a new `company_id` moves the user. */
  mergeProfile(store: Map<string, Profile>, row: ContractRow): void {
    let profile = store.get(row.id);
    if (profile === undefined) {
      profile = { id: row.id, metadata: new Map() };
      store.set(row.id, profile);
    }
    if (row.company_id !== undefined) profile.company_id = row.company_id;
    for (const [key, value] of row.metadata) {
      if (value === null) profile.metadata.delete(key);
      else profile.metadata.set(key, value);
    }
  }
}

/** A job as Userpilot shows it (the OpenAPI shape, plus the progress fields of a poll). */
export function jobView(job: SandboxJob, now: number): Record<string, unknown> {
  const started = now >= job.startAt;
  return {
    job_id: job.job_id,
    status: job.status,
    type: `${job.kind}_bulk_identify`,
    total_rows: job.rows.length,
    completed_rows: job.applied,
    start_time: new Date(job.submittedAt).toISOString(),
    end_time: job.endAt === null ? null : new Date(job.endAt).toISOString(),
    elapsed_time: started ? Math.round(((job.endAt ?? now) - job.startAt) / 1000) : 0,
    file_size: job.fileSize,
    filename: job.filename,
    links: `/v1/background_jobs/${encodeURIComponent(job.job_id)}`,
  };
}

/** A profile as `GET /__sandbox/users/:id` shows it. */
export function profileView(profile: Profile, idKey: "user_id" | "company_id"): Record<string, unknown> {
  const view: Record<string, unknown> = { [idKey]: profile.id };
  if (idKey === "user_id" && profile.company_id !== undefined) view["company_id"] = profile.company_id;
  view["metadata"] = Object.fromEntries(profile.metadata);
  return view;
}
