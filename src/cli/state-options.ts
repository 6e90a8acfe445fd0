import { normalizeBaseUrl } from "../../mod.ts";
import type { CliOptions } from "./args.ts";
import type { Progress } from "./progress.ts";
import { DeliveredState } from "./state-file.ts";
import { destinationPrint } from "./state-header.ts";

const HOUR_MS = 3_600_000;

/**
 * The `--state` file for this run, if asked for, checked against what it must match: what shapes
 * rows from the input (the kind, `--types`, `--empty-as-null`; from PostgreSQL `--id-column`,
 * `--company-column`, `--nulls`), where they go (the normalized base
 * URL and a hash of `USERPILOT_API_KEY`; a dry run without a key does not check it) and how long
 * ago the last full send began (`--resend-after-hours`, judged at `now`). When it does not match,
 * or with `--full`, every row is sent, and one progress line says why.
 *
 * @example
 * ```ts
 * const state = openState(options, io.env, progress, Date.now());
 * ```
 */
export function openState(
  options: CliOptions,
  env: Readonly<Record<string, string | undefined>>,
  progress: Progress,
  now: number,
): DeliveredState | undefined {
  if (options.state === undefined) return undefined;
  const { postgres } = options;
  const shaping = JSON.stringify(
    postgres === undefined
      ? [options.kind, [...options.columnTypes].sort(([a], [b]) => a.localeCompare(b)), options.emptyAsNull]
      : [options.kind, "postgres", postgres.idColumn ?? null, postgres.companyColumn ?? null, postgres.nulls],
  );
  const apiKey = env["USERPILOT_API_KEY"];
  const state = DeliveredState.open(options.state, {
    shaping,
    destination: apiKey ? destinationPrint(normalizeBaseUrl(options.baseUrl), apiKey) : undefined,
    full: options.full,
    resendAfterMs: options.resendAfterHours * HOUR_MS,
    now,
  });
  if (state.fullReason !== undefined && state.fullReason !== "no state yet") {
    progress.note(`--state ${options.state}: every row is sent (${state.fullReason})`);
  }
  return state;
}
