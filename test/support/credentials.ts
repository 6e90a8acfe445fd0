/**
 * The credentials vitest.config.ts gives the Worker in the worker project, and the names its
 * settings give them: long and random enough for the settings' key checks, with the scopes each
 * test needs (a rotation pair that may delete, a bare key, a Segment key, a full and a read-only
 * admin key). Plain data, so both vitest.config.ts (Node) and the tests (workerd) import it.
 */
import { SECRETS } from "../reliability/requests-corpus.ts";

/** The keys themselves. */
export const TEST_KEYS = {
  /** `tester`: identify, track and delete; the one most tests use. */
  new: "test-key-new-4f6b1c0e9d2a8f7365b4c1d0e9a8f7b6",
  /** `tester` too: the key being rotated out. */
  old: "test-key-old-9a8b7c6d5e4f30211f2e3d4c5b6a7988",
  /** A bare key, as INGEST_KEYS held before names: identify and track, named `ingest-key-3`. */
  bare: "test-key-bare-0d1c2b3a49586776a5b4c3d2e1f00f1e",
  /** `segment`: identify and track, as the docs advise for Segment and RudderStack. */
  segment: "test-key-segment-7e6d5c4b3a291807f6e5d4c3b2a1",
  /** `ops`: a full admin key. */
  admin: "test-admin-key-3c2b1a09f8e7d6c5b4a3928170f6e5d4",
  /** `viewer`: a read-only admin key. */
  viewer: "test-viewer-key-b4a39281706f5e4d3c2b1a0f9e8d7c6b",
} as const;

/** INGEST_KEYS as vitest.config.ts writes it. */
export const TEST_INGEST_KEYS: string = [
  `tester:identify+track+delete:${TEST_KEYS.new}`,
  `tester:identify+track+delete:${TEST_KEYS.old}`,
  TEST_KEYS.bare,
  `segment:identify+track:${TEST_KEYS.segment}`,
].join(",");

/** INGEST_SIGNING_SECRETS: one credential, `edge`, in the middle of a rotation (both secrets active). */
export const TEST_SIGNING_SECRETS: string = [
  `edge:identify+track+delete:${SECRETS.new}`,
  `edge:identify+track+delete:${SECRETS.old}`,
].join(",");

/** ADMIN_KEYS. */
export const TEST_ADMIN_KEYS: string = `ops:full:${TEST_KEYS.admin},viewer:read:${TEST_KEYS.viewer}`;
