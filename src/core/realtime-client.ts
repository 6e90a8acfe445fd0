import * as v from "valibot";
import { Connection, type ConnectionOptions } from "./connection.ts";
import { ValidationError } from "./errors.ts";
import { type TrackEvent, TrackEventSchema } from "./event-schema.ts";
import { realtimeHeaders } from "./request-headers.ts";

/**
 * Userpilot's real-time and delete calls, one request each under the retry policy, with
 * `X-API-Version`: `track` (`POST /v1/track`) and the right to be forgotten (`DELETE /v1/users`,
 * `DELETE /v1/companies`). Real-time calls share Userpilot's limit of 600 a minute per key; deletes
 * take one request every 2 seconds (429 past either, retried with `Retry-After` as a floor).
 *
 * @example
 * ```ts
 * const realtime = new UserpilotRealtime({ apiKey: env.USERPILOT_API_KEY });
 * await realtime.track({ user_id: "user_123", event_name: "invoice_paid", metadata: { amount: 30 } });
 * ```
 */
export class UserpilotRealtime {
  /** The normalised base URL every path is appended to. */
  readonly baseUrl: string;
  readonly #userpilot: Connection;

  constructor(options: ConnectionOptions) {
    this.#userpilot = new Connection(options);
    this.baseUrl = this.#userpilot.baseUrl;
  }

  /**
   * Send one event. It is validated first (`TrackEventSchema`; `ValidationError` sends nothing).
   * Userpilot ignores events of users it does not know yet: identify them first.
   *
   * @example
   * ```ts
   * await realtime.track({ user_id: "user_123", event_name: "report_exported" });
   * ```
   */
  async track(event: TrackEvent, options: { signal?: AbortSignal | undefined } = {}): Promise<void> {
    const result = v.safeParse(TrackEventSchema, event);
    if (!result.success) {
      const issues = result.issues.slice(0, 100).map((issue) => ({
        index: 0,
        path: v.getDotPath(issue) ?? "",
        message: issue.message,
      }));
      throw new ValidationError("the event is invalid; nothing was sent", issues);
    }
    await this.#call("POST", "/v1/track", result.output, options.signal);
  }

  /**
   * Ask Userpilot to delete users. It schedules them for its daily deletion job.
   *
   * @example
   * ```ts
   * await realtime.deleteUsers(["user_123"]);
   * ```
   */
  async deleteUsers(
    ids: readonly string[],
    options: { signal?: AbortSignal | undefined } = {},
  ): Promise<void> {
    await this.#call("DELETE", "/v1/users", { users: ids }, options.signal);
  }

  /**
   * Ask Userpilot to delete companies, like {@link deleteUsers}.
   *
   * @example
   * ```ts
   * await realtime.deleteCompanies(["acme"]);
   * ```
   */
  async deleteCompanies(
    ids: readonly string[],
    options: { signal?: AbortSignal | undefined } = {},
  ): Promise<void> {
    await this.#call("DELETE", "/v1/companies", { companies: ids }, options.signal);
  }

  async #call(method: string, path: string, body: unknown, signal: AbortSignal | undefined): Promise<void> {
    await this.#userpilot.request(method, path, {
      body: JSON.stringify(body),
      signal,
      headers: realtimeHeaders,
    });
  }
}
