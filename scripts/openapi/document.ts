import { type ConversionConfig, toJsonSchema } from "@valibot/to-json-schema";
import type * as v from "valibot";
import { JobSchema } from "../../src/core/schemas.ts";
import {
  ForgetSelectionSchema,
  SetAsideQuerySchema,
  SetAsideSelectionSchema,
} from "../../src/worker/admin/schemas.ts";
import {
  BulkCompaniesBody,
  BulkUsersBody,
  CompanyIdentifyBody,
  DeleteCompaniesBody,
  DeleteUsersBody,
  documentedAs,
  IdentifyBody,
  TrackBody,
} from "../../src/worker/ingest/route-schemas.ts";

// The schemas validate more than JSON Schema can say (prototype keys, Unicode); those checks have
// no JSON form and are left out. A Date can only arrive as its ISO string.
const config: ConversionConfig = {
  target: "openapi-3.0",
  errorMode: "ignore",
  overrideSchema: ({ valibotSchema }) =>
    valibotSchema.type === "date" ? { type: "string", format: "date-time" } : undefined,
};

const schema = (valibot: v.GenericSchema, settings: ConversionConfig = config): Record<string, unknown> => {
  const { $schema: _, ...json } = toJsonSchema(valibot, settings) as Record<string, unknown>;
  return json;
};

/**
 * A route's request body, from the very schema the route validates with (`route-schemas.ts`): what
 * it takes, with each planner-backed part shown as the schema it applies.
 */
const body = (route: v.GenericSchema): Record<string, unknown> =>
  schema(route, {
    ...config,
    overrideSchema: (context) => {
      const documented = documentedAs(context.valibotSchema);
      return documented === undefined ? config.overrideSchema!(context) : schema(documented);
    },
  });

const errorResponse = (description: string) => ({
  description,
  content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
});

const writeResponses = {
  "202": {
    description: "Accepted and durably queued (or, for a repeated request id, accepted before: " +
      "Idempotent-Replayed: true, nothing queued again)",
    content: {
      "application/json": {
        schema: { type: "object", properties: { accepted: { type: "integer" } }, required: ["accepted"] },
      },
    },
  },
  "400": errorResponse("Malformed JSON or invalid rows; nothing was queued"),
  "401": errorResponse("Missing, wrong, expired or tampered credentials"),
  "403": errorResponse(
    "The credential lacks the route's scope (identify, track or delete); nothing was queued",
  ),
  "413": errorResponse("Body over the size limit, or more than 10,000 rows"),
  "415": errorResponse("Content-Type is not application/json"),
  "422": errorResponse("The request id was already used for another request"),
  "503": errorResponse(
    "The queue is unavailable, a request with this id is still being accepted, or the endpoint is misconfigured; retry",
  ),
};

const idempotencyKey = {
  name: "Idempotency-Key",
  in: "header",
  required: false,
  description: "Bearer callers: the request's id, reused on every retry; an accepted id is applied once " +
    "(a signed request's id is its webhook-id)",
  schema: { type: "string", minLength: 1, maxLength: 255 },
};

const write = (summary: string, body: Record<string, unknown>) => ({
  summary,
  security: [{ bearer: [] }, { token: [] }, { signature: [] }],
  parameters: [idempotencyKey],
  requestBody: { required: true, content: { "application/json": { schema: body } } },
  responses: writeResponses,
});

/** Userpilot-compatible routes: the same, with errors in Userpilot's `{"errors": [...]}` shape. */
const gateway = (summary: string, body: Record<string, unknown>) => {
  const route = write(summary, body);
  const responses = Object.fromEntries(
    Object.entries(route.responses).map((
      [status, response],
    ) => [status, status === "202" ? response : { ...response, content: userpilotError }]),
  );
  return { ...route, responses };
};

const userpilotError = { "application/json": { schema: { $ref: "#/components/schemas/UserpilotErrors" } } };

const credentialCheck = (summary: string) => ({
  summary,
  security: [{ bearer: [] }, { token: [] }, { signature: [] }],
  responses: {
    "200": { description: "The credential is valid (no data is returned)" },
    "401": { description: "It is not", content: userpilotError },
  },
});

const admin = (
  summary: string,
  answer: string,
  body: v.GenericSchema = SetAsideSelectionSchema,
  shape = '`{"seqs": [...]}`',
) => ({
  summary,
  security: [{ admin: [] }],
  requestBody: { required: true, content: { "application/json": { schema: schema(body) } } },
  responses: {
    "200": { description: answer },
    "400": errorResponse(`Not \`{"all": true}\` or ${shape}`),
    "401": errorResponse("Unauthorized"),
    "403": errorResponse("The admin key is read-only"),
  },
});

/** The list's query parameters, from the same schema the route validates with. */
function queryParameters(): Record<string, unknown>[] {
  const properties = schema(SetAsideQuerySchema)["properties"] as Record<string, Record<string, unknown>>;
  return Object.entries(properties).map(([name, parameter]) => ({ name, in: "query", schema: parameter }));
}

/** The OpenAPI document of the ingestion endpoint, generated from the core's valibot schemas. */
export function openApiDocument(): Record<string, unknown> {
  return {
    openapi: "3.0.3",
    info: {
      title: "Userpilot ingestion endpoint",
      version: "1",
      description:
        "Accepts identify calls, queues them durably, and delivers them to Userpilot in bulk jobs.",
    },
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: "One of INGEST_KEYS" },
        token: {
          type: "apiKey",
          in: "header",
          name: "Authorization",
          description: "Userpilot's own scheme, `Token <key>`, with one of INGEST_KEYS",
        },
        admin: { type: "http", scheme: "bearer", description: "One of ADMIN_KEYS (operators)" },
        signature: {
          type: "apiKey",
          in: "header",
          name: "webhook-signature",
          description:
            "Standard Webhooks: v1,<base64 HMAC-SHA256 of '<webhook-id>.<webhook-timestamp>.<raw body>'> " +
            "keyed by one of INGEST_SIGNING_SECRETS (whsec_<base64>); the timestamp within ±300 s",
        },
      },
      schemas: {
        Error: {
          type: "object",
          properties: {
            error: { type: "string" },
            issues: {
              type: "array",
              items: {
                type: "object",
                properties: {
                  index: { type: "integer" },
                  path: { type: "string" },
                  message: { type: "string" },
                },
                required: ["path", "message"],
              },
              description: "The first 100 issues",
            },
            issueCount: { type: "integer", description: "How many issues there were in all" },
          },
          required: ["error"],
        },
        Job: schema(JobSchema),
        UserpilotErrors: {
          type: "object",
          properties: {
            errors: {
              type: "array",
              items: {
                type: "object",
                properties: {
                  details: { nullable: true, description: "`{ issues, issueCount }` for invalid input" },
                  error: { type: "string" },
                  error_code: { type: "string" },
                  message: { type: "string" },
                },
              },
            },
          },
          required: ["errors"],
        },
      },
    },
    paths: {
      "/v1/users/bulk_identify": {
        post: write("Identify up to 10,000 users", body(BulkUsersBody)),
      },
      "/v1/companies/bulk_identify": {
        post: write("Identify up to 10,000 companies", body(BulkCompaniesBody)),
      },
      "/v1/identify": {
        post: gateway("Identify one user (Userpilot's real-time identify)", body(IdentifyBody)),
      },
      "/v1/companies/identify": {
        post: gateway(
          "Identify one company (Userpilot's real-time company identify)",
          body(CompanyIdentifyBody),
        ),
      },
      "/v1/track": {
        post: gateway(
          "Track one event: kept in order, sent to Userpilot's track after the user's earlier identifies",
          body(TrackBody),
        ),
      },
      "/v1/users": {
        delete: gateway(
          "Forget users: their pending values and events are dropped, and the delete is forwarded to Userpilot",
          body(DeleteUsersBody),
        ),
        get: credentialCheck("Check a credential (Segment's Userpilot destination calls this before saving)"),
      },
      "/v1/companies": {
        delete: gateway("Forget companies, like DELETE /v1/users", body(DeleteCompaniesBody)),
      },
      "/v1/validate": {
        get: credentialCheck("Check a credential (newer versions of Segment's destination call this)"),
      },
      "/v1/status": {
        get: {
          summary: "Backlog, job in flight, last error, rows set aside, time to drain",
          security: [{ admin: [] }],
          responses: { "200": { description: "Delivery status" }, "401": errorResponse("Unauthorized") },
        },
      },
      "/metrics": {
        get: {
          summary: "The status as OpenMetrics text, for Prometheus",
          security: [{ admin: [] }],
          responses: {
            "200": { description: "OK", content: { "application/openmetrics-text; version=1.0.0": {} } },
            "401": errorResponse("Unauthorized"),
          },
        },
      },
      "/v1/admin/set-aside": {
        get: {
          summary: "Rows set aside, with their values, reason and attempts, in pages",
          security: [{ admin: [] }],
          parameters: queryParameters(),
          responses: {
            "200": { description: "`{ rows, next, total }`; `next` is the cursor for `after`" },
            "400": errorResponse("Invalid query"),
            "401": errorResponse("Unauthorized"),
          },
        },
      },
      "/v1/admin/set-aside/export": {
        get: {
          summary: "Every row set aside, as NDJSON",
          security: [{ admin: [] }],
          responses: {
            "200": { description: "One row set aside per line", content: { "application/x-ndjson": {} } },
            "401": errorResponse("Unauthorized"),
          },
        },
      },
      "/v1/admin/set-aside/redrive": {
        post: admin("Put rows set aside back into the backlog", "`{ redriven }`"),
      },
      "/v1/admin/set-aside/purge": {
        post: admin("Delete rows set aside for good", "`{ purged }`"),
      },
      "/v1/admin/fingerprints/forget": {
        post: admin(
          "Forget fingerprints, to send whole again",
          "`{ forgotten }`",
          ForgetSelectionSchema,
          '`{"kind", "ids"}`',
        ),
      },
      "/health": {
        get: { summary: "Liveness and configuration check", responses: { "200": { description: "OK" } } },
      },
    },
  };
}
