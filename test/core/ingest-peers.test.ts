import { Analytics } from "@segment/analytics-node";
import { PostHog } from "posthog-node";
import { describe, expect, test } from "vitest";
import { createIngestClient, TimeoutError, type UserpilotError } from "../../mod.ts";

// The ingest client side by side with the clients its users already know, Segment's
// analytics-node and PostHog's posthog-node, in the cases where a client can hurt its caller:
// the same scenario run through each, the same promise kept (or bettered) by ours.

const never = (): Promise<never> => new Promise<never>(() => {});

describe("side by side with posthog-node and @segment/analytics-node", () => {
  test("a waitUntil that throws (outside a request): no client throws, and the call is still delivered", async () => {
    const throwing = (): void => {
      throw new Error("not in request context");
    };
    const posthogBodies: string[] = [];
    const posthog = new PostHog("phc_test", {
      host: "https://posthog.example.com",
      waitUntil: throwing,
      disableCompression: true,
      fetch: (_url, options) => {
        posthogBodies.push(String(options.body));
        return Promise.resolve({
          status: 200,
          text: () => Promise.resolve("{}"),
          json: () => Promise.resolve({}),
        });
      },
    });
    expect(() => posthog.capture({ distinctId: "u1", event: "login" })).not.toThrow();
    await posthog.shutdown(5_000);
    expect(posthogBodies.join()).toContain('"distinct_id":"u1"');

    const bodies: string[] = [];
    const errors: UserpilotError[] = [];
    const ours = createIngestClient({ url: "https://ingest.example.com", key: "k" }, {
      waitUntil: throwing,
      onError: (error) => errors.push(error),
      fetch: async (request) => {
        bodies.push(await request.text());
        return new Response("{}", { status: 202 });
      },
    });
    expect(() => ours.identify({ user_id: "u1" })).not.toThrow();
    expect(await ours.close()).toEqual({ sent: 1, failed: 0, pending: 0 });
    expect(bodies).toEqual(['{"users":[{"user_id":"u1"}]}']);
    // posthog-node swallows the throw in silence; ours also tells onError.
    expect(errors.map((error) => error.message)).toEqual([
      "waitUntil threw (not in request context); the send goes on without it and may be cut short",
    ]);
  });

  test("shutting down while the endpoint never answers: every client's close is bounded; ours says what was not sent", async () => {
    const segment = new Analytics({
      writeKey: "w",
      maxEventsInBatch: 1,
      httpClient: { makeRequest: never },
    });
    segment.identify({ userId: "u1", traits: { plan: "pro" } });
    await segment.closeAndFlush({ timeout: 200 }); // resolves: nothing says what was lost

    const posthog = new PostHog("phc_test", {
      host: "https://posthog.example.com",
      flushAt: 1,
      fetch: never,
    });
    posthog.identify({ distinctId: "u1", properties: { plan: "pro" } });
    await posthog.shutdown(200); // resolves: nothing says what was lost

    const errors: UserpilotError[] = [];
    const ours = createIngestClient({ url: "https://ingest.example.com", key: "k" }, {
      flushAt: 1,
      fetch: never,
      onError: (error) => errors.push(error),
    });
    ours.identify({ user_id: "u1", metadata: { plan: "pro" } });
    expect(await ours.close({ timeoutMs: 200 })).toEqual({ sent: 0, failed: 1, pending: 0 });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(TimeoutError);
    expect(errors[0]!.message).toBe("1 users not sent: close() gave up after 200 ms");
  });

  test("1,000 calls over 100 users in a long-lived process: requests each client makes", async () => {
    const counts = { segment: 0, posthog: 0, ours: 0 };
    const segment = new Analytics({
      writeKey: "w",
      flushInterval: 60_000,
      httpClient: {
        makeRequest: () => {
          counts.segment++;
          return Promise.resolve({ status: 200, statusText: "OK" });
        },
      },
    });
    const posthog = new PostHog("phc_test", {
      host: "https://posthog.example.com",
      flushInterval: 60_000,
      fetch: () => {
        counts.posthog++;
        return Promise.resolve({
          status: 200,
          text: () => Promise.resolve("{}"),
          json: () => Promise.resolve({}),
        });
      },
    });
    const ours = createIngestClient({ url: "https://ingest.example.com", key: "k" }, {
      flushAt: 1000,
      flushIntervalMs: 60_000,
      fetch: () => {
        counts.ours++;
        return Promise.resolve(new Response("{}", { status: 202 }));
      },
    });
    for (let i = 0; i < 1000; i++) {
      const user = `user_${i % 100}`;
      segment.identify({ userId: user, traits: { visits: i } });
      posthog.identify({ distinctId: user, properties: { visits: i } });
      ours.identify({ user_id: user, metadata: { visits: i } });
    }
    await segment.closeAndFlush({ timeout: 10_000 });
    await posthog.shutdown(10_000);
    expect(await ours.close()).toEqual({ sent: 100, failed: 0, pending: 0 }); // merged by user
    console.log(`requests for 1,000 identifies over 100 users: ${JSON.stringify(counts)}`);
    expect(counts.ours).toBe(1);
    expect(counts.segment).toBeGreaterThan(counts.ours);
    expect(counts.posthog).toBeGreaterThan(counts.ours);
  });
});
