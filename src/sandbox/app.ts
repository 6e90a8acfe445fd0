import { Hono } from "hono";
import type { Context } from "hono";
import * as v from "valibot";
import { checkRow, checkRows, type ContractRow } from "./contract.ts";
import { type Faults, FaultsSchema, NO_FAULTS, seededRandom } from "./faults.ts";
import { jobView, profileView, SandboxState } from "./state.ts";

/** Options of {@link createSandbox}. */
export interface SandboxOptions {
  /** API keys accepted as `Authorization: Token <key>`. Default `["sandbox-api-key"]`. */
  apiKeys?: readonly string[] | undefined;
  /** Rows a job processes per minute. Default 1,200, Userpilot's documented rate. */
  rowsPerMinute?: number | undefined;
  /** How long a new job stays queued before it is processed. Default 200 ms. */
  queueMs?: number | undefined;
  /** Faults to inject from the start (see `POST /__sandbox/faults`). */
  faults?: Partial<Faults> | undefined;
  /** Seed for fault dice, so a run can be replayed. Default: random. */
  seed?: number | undefined;
  /** Clock, for tests. Default `Date.now`. */
  now?: (() => number) | undefined;
}

/** `POST /__sandbox/config`: the processing rate and queue delay for jobs created from now on. */
const ConfigSchema = v.strictObject({
  rowsPerMinute: v.optional(v.pipe(v.number(), v.gtValue(0))),
  queueMs: v.optional(v.pipe(v.number(), v.minValue(0))),
});

/** The default development key of the sandbox. */
export const SANDBOX_API_KEY = "sandbox-api-key";
const MAX_ROWS = 10_000;
const MAX_BYTES = 50 * 1024 * 1024;
const REALTIME_PER_MINUTE = 600;
const REALTIME_API_VERSION = "2020-09-22";

/** Userpilot's documented error body. */
function errorBody(status: number, code: string, message: string, details: unknown = null): object {
  const names: Record<number, string> = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    409: "Conflict",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
  };
  return { errors: [{ details, error: names[status] ?? "Error", error_code: code, message }] };
}

function fail(
  c: Context,
  status: 400 | 401 | 404 | 409 | 413 | 415 | 429,
  code: string,
  message: string,
  details?: unknown,
): Response {
  return c.json(errorBody(status, code, message, details), status);
}

/**
 * Drop the connection. Served by `@hono/node-server`, the socket is cut (its response object
 * arrives as `env.outgoing`); in memory, the body breaks off, which a client reads the same way.
 */
function dropConnection(c: Context): Response {
  const outgoing = (c.env as { outgoing?: { destroy?: () => void } } | undefined)?.outgoing;
  if (typeof outgoing?.destroy === "function") {
    outgoing.destroy();
    return new Response(null, { status: 500 }); // never reaches the client
  }
  return brokenResponse();
}

function brokenResponse(): Response {
  const body = new ReadableStream({
    pull(controller) {
      controller.error(new Error("connection dropped by the sandbox"));
    },
  });
  return new Response(body, { status: 200, headers: { "Content-Type": "application/json" } });
}

type Parsed = { ok: true; rows: ContractRow[]; bytes: number; filename: string | null } | {
  ok: false;
  response: Response;
};

/**
 * A local stand-in for Userpilot that follows `userpilot-api.md`: `Token` auth, validation, 413,
 * 409 while a job runs, jobs processed at `rowsPerMinute`, merges applied as rows are processed,
 * plus inspection and fault injection under `/__sandbox/`.
 *
 * @example
 * ```ts
 * import { createSandbox } from "userpilot-bulk/sandbox";
 * const sandbox = createSandbox({ rowsPerMinute: 600_000 });
 * const client = new UserpilotClient({ apiKey: "sandbox-api-key", baseUrl: "http://sandbox.localhost",
 *   fetch: (request) => sandbox.fetch(request) });
 * ```
 */
export function createSandbox(options: SandboxOptions = {}): Hono {
  const apiKeys = new Set(options.apiKeys ?? [SANDBOX_API_KEY]);
  let rowsPerMinute = options.rowsPerMinute ?? 1200;
  if (!(rowsPerMinute > 0)) throw new RangeError("rowsPerMinute must be above 0");
  let queueMs = options.queueMs ?? 200;
  const now = options.now ?? Date.now;
  let random = seededRandom(options.seed ?? Math.floor(Math.random() * 2 ** 32));
  const state = new SandboxState();
  let faults: Faults = v.parse(FaultsSchema, options.faults ?? {});
  const realtimeCalls = new Map<string, number[]>();
  const roll = (rate: number): boolean => rate > 0 && random() < rate;

  const app = new Hono();

  app.use("*", async (_c, next) => {
    state.advance(now());
    await next();
  });

  // Userpilot's own routes: counted, faulted, authenticated.
  app.use("/v1/*", async (c, next) => {
    state.stats.requests++;
    if (roll(faults.latencyRate)) {
      state.stats.faults.delayed++;
      await new Promise((resolve) => setTimeout(resolve, faults.latencyMs));
      state.advance(now());
    }
    const drop = roll(faults.dropRate) ? (random() < 0.5 ? "before" : "after") : undefined;
    if (drop === "before") {
      state.stats.faults.dropped++;
      return dropConnection(c);
    }
    if (roll(faults.rate429)) {
      state.stats.faults.rateLimited++;
      c.header("Retry-After", String(faults.retryAfterSeconds));
      return count(fail(c, 429, "rate_limited", "Too many requests"));
    }
    if (roll(faults.rate5xx)) {
      state.stats.faults.serverErrors++;
      const status = ([500, 502, 503] as const)[Math.floor(random() * 3)] ?? 500;
      return count(c.text("Internal error (injected by the sandbox)", status));
    }
    const auth = c.req.header("Authorization") ?? "";
    const token = auth.startsWith("Token ") ? auth.slice(6) : "";
    if (!apiKeys.has(token)) {
      const hint = token.startsWith("NX-")
        ? "This looks like the app token; bulk and server calls need the API key from Environment settings"
        : "Invalid or missing API key; send Authorization: Token <API_KEY>";
      return count(fail(c, 401, "unauthorized", hint));
    }
    await next();
    count(c.res);
    if (drop === "after") {
      state.stats.faults.dropped++;
      c.res = dropConnection(c);
    }
  });

  function count(response: Response): Response {
    const key = String(response.status);
    state.stats.statuses[key] = (state.stats.statuses[key] ?? 0) + 1;
    return response;
  }

  async function readRows(c: Context, kind: "users" | "companies"): Promise<Parsed> {
    const declared = Number(c.req.header("Content-Length") ?? "0");
    if (declared > MAX_BYTES) {
      return { ok: false, response: fail(c, 413, "payload_too_large", "Body is larger than 50 MB") };
    }
    const raw = new Uint8Array(await c.req.arrayBuffer());
    if (raw.byteLength > MAX_BYTES) {
      return { ok: false, response: fail(c, 413, "payload_too_large", "Body is larger than 50 MB") };
    }
    // The media type is case-insensitive; a multipart boundary is not (Bun's has capitals).
    const type = c.req.header("Content-Type") ?? "";
    const mediaType = type.toLowerCase();
    let list: unknown[];
    let filename: string | null = null;
    if (mediaType.startsWith("multipart/form-data")) {
      let file: unknown;
      try {
        file = (await new Response(raw, { headers: { "Content-Type": type } }).formData()).get("file");
      } catch {
        return { ok: false, response: fail(c, 400, "invalid_body", "Malformed multipart body") };
      }
      if (!(file instanceof Blob)) {
        return { ok: false, response: fail(c, 400, "invalid_body", 'Form field "file" is required') };
      }
      filename = file instanceof File ? file.name : "upload.ndjson";
      const parsed = parseNdjson(await file.text());
      if (typeof parsed === "string") return { ok: false, response: fail(c, 400, "invalid_body", parsed) };
      list = parsed;
    } else if (mediaType.startsWith("application/json")) {
      let body: unknown;
      try {
        body = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(raw));
      } catch {
        return { ok: false, response: fail(c, 400, "invalid_body", "Body is not valid JSON") };
      }
      const rows = body !== null && typeof body === "object"
        ? (body as Record<string, unknown>)[kind]
        : undefined;
      if (!Array.isArray(rows)) {
        return { ok: false, response: fail(c, 400, "validation_error", `Body must be {"${kind}": [...]}`) };
      }
      list = rows;
    } else {
      return {
        ok: false,
        response: fail(c, 415, "unsupported_media_type", "Send application/json or multipart/form-data"),
      };
    }
    if (list.length > MAX_ROWS) {
      return { ok: false, response: fail(c, 413, "too_many_rows", `At most ${MAX_ROWS} rows per request`) };
    }
    const checked = checkRows(list, kind);
    if (!checked.ok) {
      return {
        ok: false,
        response: fail(c, 400, "validation_error", checked.problems[0] ?? "", checked.problems),
      };
    }
    return { ok: true, rows: checked.rows, bytes: raw.byteLength, filename };
  }

  for (const kind of ["users", "companies"] as const) {
    app.post(`/v1/${kind}/bulk_identify`, async (c) => {
      const parsed = await readRows(c, kind);
      if (!parsed.ok) return parsed.response;
      if (roll(faults.rejectRate) || parsed.rows.some((row) => faults.refuseIds.includes(row.id))) {
        return fail(c, 400, "invalid_row", "A row was refused (injected by the sandbox)");
      }
      if (parsed.rows.some((row) => faults.tooLargeIds.includes(row.id))) {
        return fail(c, 413, "payload_too_large", "A row is too large (injected by the sandbox)");
      }
      const poisoned = parsed.rows.findIndex((row) => faults.failIds.includes(row.id));
      // Checked and created with no await in between: two racing POSTs cannot both start a job.
      state.advance(now());
      if (state.active !== undefined) {
        return fail(c, 409, "job_in_progress", "Another bulk job is already running; wait for it to finish");
      }
      const submittedAt = now();
      const job = {
        job_id: `bulk:jobs:NX-sandbox:${crypto.randomUUID()}`,
        kind,
        rows: parsed.rows,
        fileSize: parsed.bytes,
        filename: parsed.filename,
        submittedAt,
        startAt: submittedAt + queueMs,
        failAt: poisoned >= 0
          ? poisoned
          : roll(faults.jobFailureRate)
          ? Math.floor(random() * parsed.rows.length)
          : undefined,
        msPerRow: 60_000 / rowsPerMinute,
        status: "queued" as const,
        applied: 0,
        endAt: null,
      };
      state.jobs.set(job.job_id, job);
      state.active = job;
      state.stats.jobs.created++;
      state.stats.rows.received += parsed.rows.length;
      return c.json(jobView(job, submittedAt), 202);
    });
  }

  app.get(
    "/v1/background_jobs",
    (c) => c.json([...state.jobs.values()].reverse().map((job) => jobView(job, now()))),
  );

  app.get("/v1/background_jobs/:id", (c) => {
    const job = state.jobs.get(c.req.param("id"));
    return job === undefined ? fail(c, 404, "not_found", "No such job") : c.json(jobView(job, now()));
  });

  // Real-time endpoints, for reference: applied at once, 600 calls a minute per token.
  function realtimeGate(c: Context): Response | undefined {
    if (c.req.header("X-API-Version") !== REALTIME_API_VERSION) {
      return fail(c, 400, "invalid_api_version", `X-API-Version: ${REALTIME_API_VERSION} is required`);
    }
    const token = c.req.header("Authorization") ?? "";
    const at = now();
    const recent = (realtimeCalls.get(token) ?? []).filter((t) => t > at - 60_000);
    if (recent.length >= REALTIME_PER_MINUTE) {
      c.header("Retry-After", String(Math.ceil((recent[0]! + 60_000 - at) / 1000)));
      return fail(c, 429, "rate_limited", "Too many requests");
    }
    recent.push(at);
    realtimeCalls.set(token, recent);
    return undefined;
  }

  async function jsonBody(c: Context): Promise<unknown> {
    try {
      return await c.req.json();
    } catch {
      return undefined;
    }
  }

  app.post("/v1/identify", async (c) => {
    const refused = realtimeGate(c);
    if (refused) return refused;
    const body = await jsonBody(c);
    const company = body !== null && typeof body === "object"
      ? (body as Record<string, unknown>)["company"]
      : undefined;
    const { company: _, ...userPart } = (body ?? {}) as Record<string, unknown>;
    const companyId = company !== null && typeof company === "object"
      ? (company as Record<string, unknown>)["id"]
      : undefined;
    const user = checkRow(
      companyId === undefined ? userPart : { ...userPart, company_id: companyId },
      "user_id",
      "body",
    );
    if (typeof user === "string") return fail(c, 400, "validation_error", user);
    let companyRow: ContractRow | undefined;
    if (companyId !== undefined) {
      const { id: __, ...metadata } = company as Record<string, unknown>;
      const checked = checkRow({ company_id: companyId, metadata }, "company_id", "body.company");
      if (typeof checked === "string") return fail(c, 400, "validation_error", checked);
      companyRow = checked;
    }
    state.mergeProfile(state.users, user);
    if (companyRow !== undefined) state.mergeProfile(state.companies, companyRow);
    state.stats.realtime.identify++;
    return c.json({ status: "accepted" }, 202);
  });

  app.post("/v1/companies/identify", async (c) => {
    const refused = realtimeGate(c);
    if (refused) return refused;
    const row = checkRow(await jsonBody(c), "company_id", "body");
    if (typeof row === "string") return fail(c, 400, "validation_error", row);
    state.mergeProfile(state.companies, row);
    state.stats.realtime.companies++;
    return c.json({ status: "accepted" }, 202);
  });

  app.post("/v1/track", async (c) => {
    const refused = realtimeGate(c);
    if (refused) return refused;
    const body = await jsonBody(c);
    const record = (body ?? {}) as Record<string, unknown>;
    if (typeof record["user_id"] !== "string" || typeof record["event_name"] !== "string") {
      return fail(c, 400, "validation_error", "user_id and event_name are required");
    }
    state.stats.realtime.track++;
    return c.json({ status: "accepted" }, 202);
  });

  // Inspection and control.
  app.get("/__sandbox/users", (c) => c.json([...state.users.values()].map((p) => profileView(p, "user_id"))));
  app.get(
    "/__sandbox/companies",
    (c) => c.json([...state.companies.values()].map((p) => profileView(p, "company_id"))),
  );
  app.get("/__sandbox/users/:id", (c) => {
    const profile = state.users.get(c.req.param("id"));
    return profile ? c.json(profileView(profile, "user_id")) : c.json({ error: "not_found" }, 404);
  });
  app.get("/__sandbox/companies/:id", (c) => {
    const profile = state.companies.get(c.req.param("id"));
    return profile ? c.json(profileView(profile, "company_id")) : c.json({ error: "not_found" }, 404);
  });
  app.get(
    "/__sandbox/stats",
    (c) =>
      c.json({
        ...state.stats,
        rowsPerMinute,
        activeJob: state.active ? jobView(state.active, now()) : null,
      }),
  );
  app.post("/__sandbox/reset", (c) => {
    state.reset();
    realtimeCalls.clear();
    faults = NO_FAULTS;
    return c.json({ reset: true });
  });
  app.get("/__sandbox/config", (c) => c.json({ rowsPerMinute, queueMs }));
  app.post("/__sandbox/config", async (c) => {
    const result = v.safeParse(ConfigSchema, await jsonBody(c));
    if (!result.success) return invalidRequest(c, result.issues);
    rowsPerMinute = result.output.rowsPerMinute ?? rowsPerMinute;
    queueMs = result.output.queueMs ?? queueMs;
    return c.json({ rowsPerMinute, queueMs });
  });
  app.get("/__sandbox/faults", (c) => c.json(faults));
  app.post("/__sandbox/faults", async (c) => {
    const result = v.safeParse(FaultsSchema, await jsonBody(c));
    if (!result.success) return invalidRequest(c, result.issues);
    faults = result.output;
    if (faults.seed !== undefined) random = seededRandom(faults.seed);
    return c.json(faults);
  });

  app.notFound((c) => fail(c, 404, "not_found", "No such route"));
  return app;
}

/** The sandbox's own routes answer bad settings in the project's error shape. */
function invalidRequest(c: Context, issues: readonly v.BaseIssue<unknown>[]): Response {
  return c.json({
    error: "invalid_request",
    issues: issues.map((i) => ({ path: v.getDotPath(i) ?? "", message: i.message })),
  }, 400);
}

function parseNdjson(text: string): unknown[] | string {
  const rows: unknown[] = [];
  const lines = text.split(/\r?\n/);
  for (const [index, line] of lines.entries()) {
    if (line.trim() === "") continue;
    try {
      rows.push(JSON.parse(line));
    } catch {
      return `Line ${index + 1} is not valid JSON`;
    }
  }
  return rows;
}
