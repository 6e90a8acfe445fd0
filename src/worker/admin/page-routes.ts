/**
 * The operator's page: HTML for a browser, behind HTTP Basic auth with an admin key. These are
 * not API routes, so the OpenAPI document leaves them out; docs/endpoint.md lists them under
 * "Operator's page", and tests keep both lists in step with the app.
 */
export const ADMIN_PAGE_ROUTES = {
  page: "/admin",
  action: "/admin/set-aside",
  download: "/admin/set-aside.ndjson",
} as const;

/** Every page route as `METHOD path`, the way the route tests compare them. */
export const ADMIN_PAGE_ENDPOINTS: readonly string[] = [
  `GET ${ADMIN_PAGE_ROUTES.page}`,
  `POST ${ADMIN_PAGE_ROUTES.action}`,
  `GET ${ADMIN_PAGE_ROUTES.download}`,
];
