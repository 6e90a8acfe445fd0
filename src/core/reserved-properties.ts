/**
 * Userpilot's reserved properties that it sets itself (`docs/userpilot-api.md`, "Profile
 * semantics"): a value sent for one is passed on as given, never dropped, and the clients warn.
 * The reserved properties a caller sets (`name`, `email`, `created_at`/`signed_up_at`) are typed in
 * `inputs.ts`.
 * @module
 */

/** User properties Userpilot sets itself. */
export const SET_BY_USERPILOT: readonly string[] = Object.freeze(["first_seen_at", "last_seen_at"]);

/**
 * The properties of a user row's `metadata` that Userpilot sets itself, if any (none for a row
 * that is not an object: validation reports that).
 *
 * @example
 * ```ts
 * setByUserpilot({ user_id: "u1", metadata: { last_seen_at: "2024-05-01" } }); // ["last_seen_at"]
 * ```
 */
export function setByUserpilot(row: unknown): string[] {
  const metadata = (row as { metadata?: unknown } | null | undefined)?.metadata;
  if (metadata === null || typeof metadata !== "object") return [];
  return SET_BY_USERPILOT.filter((key) => Object.hasOwn(metadata, key));
}

/** The warning for a property Userpilot sets itself. Never quotes the value. */
export function setByUserpilotWarning(key: string): string {
  return `metadata.${key} is set by Userpilot itself: the value is sent as given, but Userpilot may ` +
    "keep its own (use a property of your own for your own time)";
}
