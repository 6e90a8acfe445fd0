/**
 * The package's version and the `User-Agent` its requests carry. A constant rather than a read of
 * package.json, whose place differs between the source tree and the built `dist/`, and which the
 * core (web globals only) cannot read; `test/package.test.ts` keeps it equal to package.json's.
 * @module
 */

/** This package's version (package.json's `version`). */
export const VERSION: string = "0.1.0";

/** Sent as `User-Agent` on every request to Userpilot and to the ingestion endpoint. */
export const USER_AGENT: string = `userpilot-bulk/${VERSION}`;
