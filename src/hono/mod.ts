/**
 * Hono middleware for edge apps: identify the current user through the ingestion endpoint.
 * @module
 */
export { userpilotIdentify, type UserpilotIdentifyOptions } from "./identify.ts";
