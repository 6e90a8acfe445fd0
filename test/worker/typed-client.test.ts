import { hc } from "hono/client";
import { exports } from "cloudflare:workers";
import { describe, expect, test } from "vitest";
import type { AppType } from "../../src/worker/app.ts";
import { KEY, ORIGIN } from "./helpers.ts";

// Hono's typed client, as docs/endpoint.md offers it: its request types come from the same valibot
// schema each route validates with (src/worker/route-schemas.ts). `npm run check` type-checks
// this file, so a body the schema would refuse fails to compile (the @ts-expect-error lines).
const client = hc<AppType>(ORIGIN, {
  fetch: (input: RequestInfo | URL, init?: RequestInit) => exports.default.fetch(new Request(input, init)),
  headers: { Authorization: `Bearer ${KEY}` },
});

describe("hc<AppType>", () => {
  test("typed bodies reach the routes and are accepted", async () => {
    const users = await client.v1.users.bulk_identify.$post({
      json: { users: [{ user_id: "hc_1", metadata: { plan: "pro", seats: 3 } }] },
    });
    expect(users.status).toBe(202);
    expect(await users.json()).toEqual({ accepted: 1 });

    const identify = await client.v1.identify.$post({
      json: { user_id: "hc_2", company: { id: "hc_co", name: "Acme" } },
    });
    expect(identify.status).toBe(202);

    const track = await client.v1.track.$post({ json: { user_id: "hc_2", event_name: "hc_event" } });
    expect(track.status).toBe(202);

    const deleted = await client.v1.companies.$delete({ json: { companies: ["hc_gone"] } });
    expect(deleted.status).toBe(202);
  });

  test("a body the types refuse is refused at runtime too", async () => {
    const wrong = await client.v1.companies.bulk_identify.$post({
      // @ts-expect-error a users body is not a companies body
      json: { users: [{ user_id: "hc_3" }] },
    });
    expect(wrong.status).toBe(400);

    const noId = await client.v1.identify.$post({
      // @ts-expect-error user_id is required
      json: { metadata: { plan: "free" } },
    });
    expect(noId.status).toBe(400);

    const badValue = await client.v1.users.bulk_identify.$post({
      // @ts-expect-error a property value is a string, number, boolean, date or null, not an object
      json: { users: [{ user_id: "hc_4", metadata: { nested: { no: 1 } } }] },
    });
    expect(badValue.status).toBe(400);
  });
});
