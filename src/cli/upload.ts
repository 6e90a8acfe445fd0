import type { FetchFunction } from "../../mod.ts";

const BULK_IDENTIFY_PATH = /\/v1\/(users|companies)\/bulk_identify$/;

/**
 * Wrap `fetch` so that `UserpilotClient`'s bulk-identify JSON bodies leave as NDJSON file uploads
 * (`multipart/form-data`, the file in field `file`), Userpilot's other way into the same path.
 * Everything else passes through. Doing it at the `fetch` seam keeps the core's whole retry
 * policy (429/5xx/drops, 409 waits, 413 splits, failed-job resubmits) for uploads too. The
 * chunks are cut to the JSON body limit (5 MiB by default), far inside the 50 MB upload limit.
 *
 * @example
 * ```ts
 * const client = new UserpilotClient({ apiKey, fetch: uploadingFetch((request) => fetch(request)) });
 * ```
 */
export function uploadingFetch(fetch: FetchFunction): FetchFunction {
  return async function uploadBulkIdentify(request: Request): Promise<Response> {
    const kind = request.method === "POST"
      ? BULK_IDENTIFY_PATH.exec(new URL(request.url).pathname)?.[1]
      : undefined;
    if (kind === undefined) return await fetch(request);
    const body = JSON.parse(await request.text()) as Record<string, unknown[] | undefined>;
    const lines = (body[kind] ?? []).map((row) => `${JSON.stringify(row)}\n`);
    const form = new FormData();
    form.append("file", new Blob(lines, { type: "application/x-ndjson" }), `${kind}.ndjson`);
    const headers = new Headers(request.headers);
    headers.delete("Content-Type"); // fetch writes multipart/form-data with its boundary
    return await fetch(
      new Request(request.url, { method: "POST", headers, body: form, signal: request.signal }),
    );
  };
}
