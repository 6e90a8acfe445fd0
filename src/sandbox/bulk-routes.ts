import { Hono } from "hono";
import type { Context } from "hono";
import { checkRows, type ContractRow } from "./contract.ts";
import { fail, type SandboxContext } from "./context.ts";
import { jobView } from "./state.ts";

const MAX_ROWS = 10_000;
const MAX_BYTES = 50 * 1024 * 1024;

type Parsed = { ok: true; rows: ContractRow[]; bytes: number; filename: string | null } | {
  ok: false;
  response: Response;
};

/** Read a bulk body (JSON or an NDJSON upload) and check it as the contract sheet says Userpilot does. */
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

/**
 * Userpilot's bulk routes: `POST /v1/{users,companies}/bulk_identify` (JSON or an NDJSON upload;
 * 413, and 409 while a job runs) and `GET /v1/background_jobs[/:id]`.
 */
export function bulkRoutes(sandbox: SandboxContext): Hono {
  const app = new Hono();
  for (const kind of ["users", "companies"] as const) {
    app.post(`/v1/${kind}/bulk_identify`, async (c) => {
      const parsed = await readRows(c, kind);
      if (!parsed.ok) return parsed.response;
      const refused = parsed.rows.find((row) => sandbox.faults.refuseIds.includes(row.id));
      if (refused !== undefined || sandbox.roll(sandbox.faults.rejectRate)) {
        // Like a real API's message, it quotes what it refused: a client must never show it as is.
        const quoted = refused === undefined
          ? ""
          : `: ${JSON.stringify(Object.fromEntries(refused.metadata))}`;
        return fail(c, 400, "invalid_row", `A row was refused (injected by the sandbox)${quoted}`);
      }
      if (parsed.rows.some((row) => sandbox.faults.tooLargeIds.includes(row.id))) {
        return fail(c, 413, "payload_too_large", "A row is too large (injected by the sandbox)");
      }
      const poisoned = parsed.rows.findIndex((row) => sandbox.faults.failIds.includes(row.id));
      // Checked and created with no await in between: two racing POSTs cannot both start a job.
      sandbox.state.advance(sandbox.now());
      if (sandbox.state.active !== undefined) {
        return fail(c, 409, "job_in_progress", "Another bulk job is already running; wait for it to finish");
      }
      const submittedAt = sandbox.now();
      const job = {
        job_id: `bulk:jobs:NX-sandbox:${sandbox.jobId()}`,
        kind,
        rows: parsed.rows,
        fileSize: parsed.bytes,
        filename: parsed.filename,
        submittedAt,
        startAt: submittedAt + sandbox.config.queueMs,
        failAt: poisoned >= 0
          ? poisoned
          : sandbox.roll(sandbox.faults.jobFailureRate)
          ? Math.floor(sandbox.random() * parsed.rows.length)
          : undefined,
        msPerRow: 60_000 / sandbox.config.rowsPerMinute,
        status: "queued" as const,
        applied: 0,
        endAt: null,
      };
      sandbox.state.jobs.set(job.job_id, job);
      sandbox.state.active = job;
      sandbox.state.stats.jobs.created++;
      sandbox.state.stats.rows.received += parsed.rows.length;
      return c.json(jobView(job, submittedAt), 202);
    });
  }

  app.get(
    "/v1/background_jobs",
    (c) => c.json([...sandbox.state.jobs.values()].reverse().map((job) => jobView(job, sandbox.now()))),
  );

  app.get("/v1/background_jobs/:id", (c) => {
    const job = sandbox.state.jobs.get(c.req.param("id"));
    return job === undefined ? fail(c, 404, "not_found", "No such job") : c.json(jobView(job, sandbox.now()));
  });
  return app;
}
