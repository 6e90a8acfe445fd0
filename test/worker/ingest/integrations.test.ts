import { reset } from "cloudflare:test";
import { beforeEach, expect, test } from "vitest";
import fixture from "../../fixtures/integrations/requests.json" with { type: "json" };
import { call, eventually, FAST_USERPILOT, KEY, sandbox } from "../helpers.ts";

beforeEach(async () => {
  await reset();
  await sandbox("/__sandbox/reset", {});
  await sandbox("/__sandbox/config", FAST_USERPILOT);
});

type Profile = { user_id?: string; company_id?: string; metadata: Record<string, unknown> };
type Event = { user_id: string; event_name: string; metadata: Record<string, unknown>; known: boolean };

test("the requests Segment, RudderStack and Singer send, byte for byte, end in Userpilot as it would have them", async () => {
  // Each integration's own requests, in the order it would send them; only the key is ours.
  for (const request of fixture.requests) {
    const headers = {
      ...request.headers,
      Authorization: request.headers.Authorization.replace("<ingest key>", KEY),
    };
    const response = await call(request.path, { method: request.method, headers, body: request.body });
    expect(response.status, `${request.source}: ${request.what}`).toBe(request.method === "GET" ? 200 : 202);
  }
  const users = await eventually(
    () => sandbox<Profile[]>("/__sandbox/users"),
    (list) => list.length === 4,
  );
  const events = await eventually(() => sandbox<Event[]>("/__sandbox/events"), (list) => list.length === 2);
  const deletions = await eventually(
    () => sandbox<{ kind: string; ids: string[] }[]>("/__sandbox/deletions"),
    (list) => list.length === 1,
  );
  const byId = (list: Profile[], key: "user_id" | "company_id") =>
    Object.fromEntries(list.map((profile) => [profile[key], profile]));
  expect(byId(users, "user_id")).toEqual({
    seg_user_1: {
      user_id: "seg_user_1",
      metadata: {
        name: "Ada Lovelace",
        email: "ada@example.com",
        plan: "pro",
        created_at: "2024-01-01T00:00:00.000Z",
      },
    },
    // RudderStack's copy of the company inside metadata is the company, not a user property.
    rs_user_1: {
      user_id: "rs_user_1",
      company_id: "12345",
      metadata: {
        name: "John Doe",
        title: "CEO",
        email: "name.surname@domain.com",
        phone: "123-456-7890",
        rating: "Hot",
        city: "Austin",
        postalCode: "12345",
        country: "US",
        street: "Sample Address",
        state: "TX",
      },
    },
    rs_user_2: {
      user_id: "rs_user_2",
      metadata: { name: "Jane Roe", email: "jane@example.com", created_at: "2023-06-01T12:00:00.000Z" },
    },
    // Singer's two records of one user, merged: the later values win.
    singer_1: {
      user_id: "singer_1",
      metadata: { plan: "enterprise", seats: "40", signed_up_at: "2024-03-01T00:00:00Z" },
    },
  });
  // seg_user_2 was identified, then deleted before it went out: it never reaches Userpilot.
  expect(deletions).toEqual([{ kind: "users", ids: ["seg_user_2"], at: expect.any(String), ran: false }]);
  expect(byId(await sandbox<Profile[]>("/__sandbox/companies"), "company_id")).toEqual({
    seg_co_1: { company_id: "seg_co_1", metadata: { name: "Acme", industry: "Software" } },
    "12345": { company_id: "12345", metadata: { name: "Company123" } },
    sample_group_id: { company_id: "sample_group_id", metadata: { name: "Apple Inc.", location: "USA" } },
  });
  // Each event after its user existed, with its properties.
  expect(events.map(({ user_id, event_name, metadata, known }) => ({ user_id, event_name, metadata, known })))
    .toEqual(expect.arrayContaining([
      {
        user_id: "seg_user_1",
        event_name: "Order Completed",
        metadata: { revenue: 30, currency: "USD" },
        known: true,
      },
      {
        user_id: "rs_user_1",
        event_name: "test track event 1",
        metadata: { revenue: 30, currency: "USD", user_actual_id: 12345 },
        known: true,
      },
    ]));
});
