/**
 * The operator's surface: the JSON routes under `/v1/admin` (rows set aside, fingerprints), the
 * HTML page at `/admin`, the metrics at `/metrics` (OpenMetrics text), and who may use them
 * (admin keys). Reads and acts on the delivery object through its methods only.
 * @module
 */
export { adminAuth } from "./auth.ts";
export { adminPage } from "./page.tsx";
export { ADMIN_PAGE_ENDPOINTS, ADMIN_PAGE_ROUTES } from "./page-routes.ts";
export { OPENMETRICS_CONTENT_TYPE, renderMetrics } from "./metrics.ts";
export { adminRoutes } from "./routes.ts";
export { ForgetSelectionSchema, SetAsideQuerySchema, SetAsideSelectionSchema } from "./schemas.ts";
