/**
 * Userpilot bulk identify for any JavaScript runtime: schemas, request building, coalescing,
 * a retrying client that follows jobs to completion, and request signing.
 *
 * @example
 * ```ts
 * import { UserpilotClient } from "userpilot-bulk";
 * const client = new UserpilotClient({ apiKey: "…" });
 * await client.bulkIdentifyUsers([{ user_id: "user_123", metadata: { plan: "pro" } }]);
 * ```
 * @module
 */
export { normalizeBaseUrl, USERPILOT_HOSTS } from "./src/core/base-url.ts";
export {
  type BuildBulkIdentifyOptions,
  buildBulkIdentifyRequests,
  type BulkKind,
  type Chunk,
  type ChunkOptions,
  type ChunkPlan,
  type ChunkPlanner,
  createChunkPlanner,
  planChunks,
  type ValidatedRows,
  type ValidateOptions,
  validateRows,
} from "./src/core/build-requests.ts";
export {
  type BulkIdentifyOptions,
  type BulkIdentifyResult,
  type BulkProgress,
  type BulkTotals,
  type FetchFunction,
  UserpilotClient,
  type UserpilotClientOptions,
  type WaitForJobOptions,
} from "./src/core/client.ts";
export { coalesceRows, mergeRow } from "./src/core/coalesce.ts";
export type { ConnectionOptions } from "./src/core/connection.ts";
export { DeleteIdsSchema, type TrackEvent, TrackEventSchema } from "./src/core/event-schema.ts";
export { UserpilotRealtime } from "./src/core/realtime-client.ts";
export {
  type CompanyInput,
  type CompanyMetadataInput,
  type DateInput,
  type EventInput,
  type MetadataInput,
  type MetadataInputValue,
  type UserInput,
  type UserMetadataInput,
} from "./src/core/inputs.ts";
export { SET_BY_USERPILOT } from "./src/core/reserved-properties.ts";
export { type PlannedWindow, planWindows, type RowSource } from "./src/core/windows.ts";
export { createIngestClient } from "./src/core/ingest-client.ts";
export type {
  CreateIngestClient,
  IngestClient,
  IngestClientOptions,
  IngestFlushOptions,
  IngestFlushResult,
} from "./src/core/ingest-types.ts";
export {
  type IngestAccepted,
  type IngestTarget,
  postToIngest,
  type PostToIngestOptions,
} from "./src/core/ingest-post.ts";
export {
  describeFailure,
  HTTPError,
  type HTTPErrorInit,
  JobFailedError,
  NetworkError,
  RateLimitError,
  type RowIssue,
  TimeoutError,
  UserpilotError,
  type UserpilotErrorDetail,
  ValidationError,
} from "./src/core/errors.ts";
export {
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_ISSUES,
  DEFAULT_ROW_LIMITS,
  INGEST_MESSAGE_BYTES,
  MAX_ROWS_PER_REQUEST,
  MAX_UPLOAD_BYTES,
  type RowLimits,
} from "./src/core/limits.ts";
export {
  backoffDelay,
  DEFAULT_RETRY_POLICY,
  isRetryableStatus,
  parseRetryAfter,
  type RetryOptions,
  type RetryPolicy,
} from "./src/core/retry.ts";
export {
  BulkIdentifyCompaniesBodySchema,
  BulkIdentifyUsersBodySchema,
  type Company,
  CompanySchema,
  createCompanySchema,
  createMetadataSchema,
  createUserSchema,
  isTerminalStatus,
  type Job,
  JOB_STATUSES,
  JobSchema,
  type JobStatus,
  type Metadata,
  MetadataSchema,
  type MetadataValue,
  type User,
  UserSchema,
} from "./src/core/schemas.ts";
export { IDEMPOTENCY_KEY_HEADER, isRequestId, newRequestId } from "./src/core/request-id.ts";
export {
  DEFAULT_SIGNATURE_TOLERANCE_SECONDS,
  type SignatureFailure,
  type SignatureHeaders,
  type SignatureVerification,
  signingSecretProblem,
  signPayload,
  type SignPayloadOptions,
  verifySignature,
  type VerifySignatureOptions,
  WEBHOOK_ID_HEADER,
  WEBHOOK_SIGNATURE_HEADER,
  WEBHOOK_TIMESTAMP_HEADER,
} from "./src/core/signature.ts";
