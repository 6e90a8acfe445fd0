/**
 * A tiny HTTP sink on 127.0.0.1 for the peer benchmark: accepts anything, answers like Userpilot
 * (a bulk POST gets 202 and a job, a job poll says `completed`, anything else 200), and counts the
 * rows or events each body carried, so a benchmark can check that everything arrived.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** What the sink has received since it started (or since `reset()`). */
export interface SinkCounts {
  requests: number;
  bytes: number;
  /** Rows in Userpilot bulk bodies (`{"users": [...]}` or `{"companies": [...]}`). */
  bulkRows: number;
  /** Events in Segment batch bodies (`{"batch": [...]}`). */
  batchEvents: number;
}

export interface Sink {
  readonly url: string;
  readonly counts: SinkCounts;
  reset(): void;
  close(): Promise<void>;
}

const empty = (): SinkCounts => ({ requests: 0, bytes: 0, bulkRows: 0, batchEvents: 0 });

/** Start the sink on a free loopback port. */
export async function startSink(): Promise<Sink> {
  let counts = empty();
  let jobs = 0;
  const server: Server = createServer((request, response) => {
    const parts: Buffer[] = [];
    request.on("data", (part: Buffer) => parts.push(part));
    request.on("end", () => {
      counts.requests++;
      const raw = Buffer.concat(parts);
      counts.bytes += raw.length;
      const path = request.url ?? "/";
      const send = (status: number, body: unknown) => {
        const text = JSON.stringify(body);
        response.writeHead(status, {
          "Content-Type": "application/json",
          "Content-Length": Buffer.byteLength(text),
        });
        response.end(text);
      };
      if (request.method === "POST" && path.endsWith("/bulk_identify")) {
        const body = JSON.parse(raw.toString("utf8")) as { users?: unknown[]; companies?: unknown[] };
        counts.bulkRows += (body.users ?? body.companies ?? []).length;
        send(202, {
          job_id: `bulk:jobs:NX-sink:${++jobs}`,
          status: "queued",
          submitted_at: new Date().toISOString(),
        });
      } else if (request.method === "GET" && path.startsWith("/v1/background_jobs/")) {
        send(200, {
          job_id: decodeURIComponent(path.slice("/v1/background_jobs/".length)),
          status: "completed",
        });
      } else {
        if (raw.length > 0 && (request.headers["content-type"] ?? "").includes("json")) {
          const body = JSON.parse(raw.toString("utf8")) as { batch?: unknown[] };
          counts.batchEvents += body.batch?.length ?? 0;
        }
        send(200, { success: true });
      }
    });
  });
  server.keepAliveTimeout = 10_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get counts() {
      return counts;
    },
    reset() {
      counts = empty();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
