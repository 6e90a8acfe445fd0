/**
 * A local alert receiver for the sandbox stack: it verifies each alert's Standard Webhooks
 * signature with the public `standardwebhooks` package (not our own code), answers 204, and hands
 * the alert on (`npm start` prints it). An alert that fails verification is answered 401, and the
 * Worker retries it under its backoff.
 */
import { createServer, type Server } from "node:http";
import { Webhook } from "standardwebhooks";

/** The development alert signing secret: whsec_ + base64 of "dev-alert-secret-for-local-use!!" (32 bytes). */
export const DEV_ALERT_SECRET = "whsec_ZGV2LWFsZXJ0LXNlY3JldC1mb3ItbG9jYWwtdXNlISE=";

/** An alert as received (the documented payload, docs/alerts.md). */
export interface ReceivedAlert {
  type: string;
  state: "raised" | "reminder" | "resolved";
  since: string;
  timestamp: string;
  data: Record<string, unknown>;
}

export interface AlertReceiver {
  /** Where the Worker posts (`ALERT_WEBHOOK_URL`). */
  readonly url: string;
  /** Every verified alert, in arrival order. */
  readonly alerts: ReceivedAlert[];
  /** Posts refused because their signature did not verify. */
  readonly refused: number;
  stop(): Promise<void>;
}

/** Listen on 127.0.0.1:`port` (0: any free port) for alerts signed with `secret`. */
export async function startAlertReceiver(options: {
  port?: number;
  secret?: string;
  onAlert?: (alert: ReceivedAlert) => void;
} = {}): Promise<AlertReceiver> {
  const webhook = new Webhook(options.secret ?? DEV_ALERT_SECRET);
  const alerts: ReceivedAlert[] = [];
  let refused = 0;
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const headers = Object.fromEntries(
        Object.entries(request.headers).map(([name, value]) => [name, String(value)]),
      );
      let alert: ReceivedAlert;
      try {
        alert = webhook.verify(Buffer.concat(chunks).toString("utf8"), headers) as ReceivedAlert;
      } catch {
        refused++;
        response.writeHead(401).end();
        return;
      }
      alerts.push(alert);
      options.onAlert?.(alert);
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/alerts`,
    alerts,
    get refused() {
      return refused;
    },
    stop: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
