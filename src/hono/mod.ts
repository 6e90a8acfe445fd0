/**
 * Hono middleware for the ingestion endpoint, on Workers and on Node, Bun and Deno servers:
 * `c.var.userpilot` in handlers, and the current user identified after each request.
 * @module
 */
export {
  type UserpilotCalls,
  userpilotIdentify,
  type UserpilotIdentifyOptions,
  type UserpilotMiddleware,
  type UserpilotVariables,
  type WithUserpilot,
} from "./identify.ts";
