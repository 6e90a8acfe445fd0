/**
 * Everything before a 202: who may write (ingest keys and signatures), the request id and the
 * replay guard that applies each once, the routes' bodies and their schemas, Userpilot-shaped
 * errors for the routes integrations call, the OpenAPI document, and the Queue messages an
 * accepted request becomes. Never calls Userpilot.
 * @module
 */
export { acceptOnce } from "./accept.ts";
export { ingestAuth } from "./auth.ts";
export { acceptanceStamp } from "./messages.ts";
export { OPENAPI_DOCUMENT } from "./openapi-document.ts";
export { ReplayGuard } from "./replay-guard.ts";
export { requestId } from "./request-id.ts";
export {
  type Accepted,
  BulkCompaniesBody,
  BulkUsersBody,
  CompanyIdentifyBody,
  DeleteCompaniesBody,
  DeleteUsersBody,
  documentedAs,
  IdentifyBody,
  TrackBody,
} from "./route-schemas.ts";
export { USERPILOT_COMPATIBLE_PATHS, userpilotErrors } from "./userpilot-errors.ts";
