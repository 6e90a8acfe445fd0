/**
 * The names of a stored row's fields, in one place: `@` (the id itself, so a bare identify with
 * no properties is still sent), `company_id` (a user's company), and `m:<key>` per metadata key.
 * Stored in SQLite (`rows.fields`, `rows.sent`, `inflight.sent`, set-aside entries) and hashed
 * into fingerprints, so they never change.
 * @module
 */

/** The field that stands for the id itself. */
export const ID_FIELD = "@";
/** A user's company. */
export const COMPANY_FIELD = "company_id";

const METADATA_PREFIX = "m:";

/** The field name of a metadata key. */
export const metadataField = (key: string): string => `${METADATA_PREFIX}${key}`;

/** The metadata key a field name stands for, or `undefined` for `@` and `company_id`. */
export const metadataKey = (name: string): string | undefined =>
  name.startsWith(METADATA_PREFIX) ? name.slice(METADATA_PREFIX.length) : undefined;
