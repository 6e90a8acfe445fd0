/**
 * Next.js-style edge middleware as a plain fetch handler: on each request with a session, identify
 * the user in the background (`event.waitUntil`), so the page is never delayed.
 *
 * In a Next.js app, `middleware.ts`:
 *   export const middleware = createUserpilotMiddleware({
 *     url: process.env.USERPILOT_INGEST_URL!, signingSecret: process.env.USERPILOT_INGEST_SIGNING_SECRET!,
 *   });
 */
import { createIngestClient, type IngestTarget } from "../mod.ts";

/** What edge runtimes pass as the second argument (Next.js `NextFetchEvent`, Vercel, Workers `ctx`). */
export interface WaitUntilEvent {
  waitUntil(promise: Promise<unknown>): void;
}

/** Read the signed-in user from a cookie; a real app verifies its session token here. */
function sessionUser(request: Request): { id: string; plan: string } | undefined {
  const cookie = request.headers.get("Cookie") ?? "";
  const id = /(?:^|;\s*)uid=([^;]+)/.exec(cookie)?.[1];
  const plan = /(?:^|;\s*)plan=([^;]+)/.exec(cookie)?.[1] ?? "free";
  return id === undefined ? undefined : { id: decodeURIComponent(id), plan };
}

export function createUserpilotMiddleware(target: IngestTarget) {
  return function middleware(request: Request, event: WaitUntilEvent): Response {
    const user = sessionUser(request);
    if (user !== undefined) {
      const userpilot = createIngestClient(target, {
        waitUntil: (promise) => event.waitUntil(promise),
        onError: (error) => console.warn(`userpilot: ${error.message}`),
      });
      userpilot.identify({
        user_id: user.id,
        metadata: { plan: user.plan, last_path: new URL(request.url).pathname },
      });
    }
    // Next.js reads this header as NextResponse.next(): continue to the page.
    return new Response(null, { headers: { "x-middleware-next": "1" } });
  };
}
