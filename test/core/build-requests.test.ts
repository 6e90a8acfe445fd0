import { describe, expect, test } from "vitest";
import { buildBulkIdentifyRequests, planChunks } from "../../mod.ts";

const bytes = (text: string) => new TextEncoder().encode(text).length;
const users = (count: number, metadata: Record<string, unknown> = {}) =>
  Array.from({ length: count }, (_, i) => ({ user_id: `user_${i}`, metadata: { i, ...metadata } }));

describe("buildBulkIdentifyRequests", () => {
  test("builds POSTs to the bulk endpoint with the three contract headers and no X-API-Version", async () => {
    const { requests, rejected } = buildBulkIdentifyRequests([{ user_id: "user_123" }], { apiKey: "key-1" });
    expect(rejected).toEqual([]);
    const [request] = requests;
    expect(request!.method).toBe("POST");
    expect(request!.url).toBe("https://analytex.userpilot.io/v1/users/bulk_identify");
    expect(request!.headers.get("Authorization")).toBe("Token key-1");
    expect(request!.headers.get("Content-Type")).toBe("application/json");
    expect(request!.headers.get("Accept")).toBe("application/json, text/plain, */*");
    expect(request!.headers.has("X-API-Version")).toBe(false);
    expect(await request!.json()).toEqual({ users: [{ user_id: "user_123" }] });
  });

  test("companies go to their endpoint under the chosen region", async () => {
    const { requests } = buildBulkIdentifyRequests([{ company_id: "acme" }], {
      apiKey: "k",
      kind: "companies",
      baseUrl: "eu",
    });
    expect(requests[0]!.url).toBe("https://analytex-eu.userpilot.io/v1/companies/bulk_identify");
    expect(await requests[0]!.json()).toEqual({ companies: [{ company_id: "acme" }] });
  });

  test("splits at 10,000 rows by default, keeping every row once and in order", async () => {
    const { requests } = buildBulkIdentifyRequests(users(20_001), { apiKey: "k" });
    const bodies = (await Promise.all(requests.map((r) => r.json()))) as { users: { user_id: string }[] }[];
    expect(bodies.map((b) => b.users.length)).toEqual([10_000, 10_000, 1]);
    expect(bodies.flatMap((b) => b.users.map((u) => u.user_id))).toEqual(users(20_001).map((u) => u.user_id));
  });

  test("refuses an API key that would break or leak through a header", () => {
    expect(() => buildBulkIdentifyRequests([], { apiKey: "" })).toThrow(/apiKey is required/);
    let message = "";
    try {
      buildBulkIdentifyRequests([], { apiKey: "abc\nInjected: yes" });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/whitespace/);
    expect(message).not.toContain("abc");
    expect(() => buildBulkIdentifyRequests([], { apiKey: "Token abc" })).toThrow(/starts with "Token "/);
    expect(() => buildBulkIdentifyRequests([], { apiKey: "clé" })).toThrow(
      /cannot be sent in an HTTP header/,
    );
  });
});

describe("planChunks", () => {
  test("holds maxBytes measured exactly in UTF-8, multi-byte text included", () => {
    const rows = users(200, { name: "Zoë Ångström 😀 日本語" });
    const maxBytes = 2_000;
    const { chunks } = planChunks(rows, { maxBytes });
    expect(chunks.length).toBeGreaterThan(1);
    for (const chunk of chunks) {
      expect(chunk.bytes).toBe(bytes(chunk.body));
      expect(chunk.bytes).toBeLessThanOrEqual(maxBytes);
      expect(JSON.parse(chunk.body).users).toHaveLength(chunk.rows.length);
    }
    // Each chunk is full: the next row would not have fit.
    for (const [i, chunk] of chunks.slice(0, -1).entries()) {
      const next = JSON.stringify(chunks[i + 1]!.rows[0]);
      expect(chunk.bytes + 1 + bytes(next)).toBeGreaterThan(maxBytes);
    }
  });

  test("a row larger than maxBytes on its own is rejected, not sent", () => {
    const { chunks, rejected } = planChunks(
      [{ user_id: "small" }, { user_id: "big", metadata: { text: "x".repeat(500) } }, { user_id: "small2" }],
      { maxBytes: 200 },
    );
    expect(rejected).toEqual([{
      index: 1,
      path: "",
      message: expect.stringMatching(/over maxBytes \(200\)/),
    }]);
    expect(chunks.flatMap((c) => c.rows.map((r) => (r as { user_id: string }).user_id))).toEqual([
      "small",
      "small2",
    ]);
  });

  test("maxRowBytes rejects a row whose body alone would be larger, and bodies still fill to maxBytes", () => {
    const rows = [
      { user_id: "a", metadata: { text: "x".repeat(100) } },
      { user_id: "big", metadata: { text: "x".repeat(300) } },
      { user_id: "b", metadata: { text: "x".repeat(100) } },
    ];
    const { chunks, rejected } = planChunks(rows, { maxBytes: 10_000, maxRowBytes: 200 });
    expect(rejected).toEqual([{
      index: 1,
      path: "",
      message: expect.stringMatching(/over maxRowBytes \(200\)/),
    }]);
    expect(chunks).toHaveLength(1);
    expect(chunks[0]!.rows.map((r) => (r as { user_id: string }).user_id)).toEqual(["a", "b"]);
    // A row that fits exactly: its body alone is maxRowBytes bytes.
    const exact = planChunks([rows[0]!], { maxRowBytes: bytes(JSON.stringify({ users: [rows[0]] })) });
    expect(exact.rejected).toEqual([]);
    expect(() => planChunks(rows, { maxRowBytes: 0 })).toThrow(RangeError);
  });

  test("merges repeated ids into the position of their first appearance, unless told not to", () => {
    const rows = [
      { user_id: "a", metadata: { n: 1 } },
      { user_id: "b" },
      { user_id: "a", metadata: { n: null, m: 2 } },
    ];
    const merged = planChunks(rows);
    expect(merged.chunks[0]!.rows).toEqual([{ user_id: "a", metadata: { n: null, m: 2 } }, { user_id: "b" }]);
    expect(merged.chunks[0]!.indexes).toEqual([0, 1]);
    expect(planChunks(rows, { coalesce: false }).chunks[0]!.rows).toHaveLength(3);
  });

  test("a rejected row never merges into a good one", () => {
    const { chunks, rejected } = planChunks([
      { user_id: "a", metadata: { plan: "free" } },
      { user_id: "a", metadata: { plan: { nested: true } } },
    ]);
    expect(rejected.map((r) => r.index)).toEqual([1]);
    expect(chunks[0]!.rows).toEqual([{ user_id: "a", metadata: { plan: "free" } }]);
  });

  test("rejects impossible limits", () => {
    expect(() => planChunks([], { maxRows: 10_001 })).toThrow(RangeError);
    expect(() => planChunks([], { maxRows: 0 })).toThrow(RangeError);
    expect(() => planChunks([], { maxBytes: 0 })).toThrow(RangeError);
  });

  test("accepts any iterable, a generator included", () => {
    function* rows() {
      for (let i = 0; i < 5; i++) yield { user_id: `g${i}` };
    }
    expect(planChunks(rows()).chunks[0]!.rows).toHaveLength(5);
  });
});
