import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, test, vi } from "vitest";
import {
  BAD_INPUT_CASES,
  type BadInputCase,
  echoes,
  expandText,
  requestBody,
  secretsOf,
} from "../../reliability/bad-inputs-corpus.ts";
import {
  CREDENTIAL_CASES,
  REPEAT_CASES,
  SIGNATURE_CASES,
  signatureCaseHeaders,
  signedHeaders,
} from "../../reliability/requests-corpus.ts";
import { call, captureQueue, deliveryStub, KEY, TEST_KEYS } from "../helpers.ts";

// The endpoint's half of the bad-input corpus (the core's is test/reliability/bad-inputs.test.ts):
// every case gets the status and error code of docs/endpoint.md's table, issues where documented, never an
// echo of a submitted value, and nothing queued unless the case documents it as accepted.

const { sent, queuedRows } = captureQueue();

/** The body as the case sends it: bytes, or a stream without Content-Length in small pieces. */
function bodyOf(c: BadInputCase): BodyInit {
  const bytes = requestBody(c);
  if (!c.generate?.stream) return bytes;
  let at = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(at, at + 64 * 1024));
      at += 64 * 1024;
    },
  });
}

describe.each(BAD_INPUT_CASES.map((c) => [c.id, c] as const))("%s", (_, c) => {
  test(`answers ${c.endpoint.status}${c.endpoint.error ? ` ${c.endpoint.error}` : ""}`, async () => {
    const headers: Record<string, string> = { Authorization: `Bearer ${KEY}` };
    if (c.contentType !== null) headers["Content-Type"] = c.contentType ?? "application/json";
    const response = await call(c.route, { method: "POST", headers, body: bodyOf(c) });
    const text = await response.text();
    expect(response.status, text.slice(0, 300)).toBe(c.endpoint.status);
    const body = JSON.parse(text) as { error?: string; issues?: { index?: number; path: string }[] };
    if (c.endpoint.error !== undefined) expect(body.error).toBe(c.endpoint.error);
    if (c.endpoint.issues !== undefined) {
      expect(body.issues?.map(({ index, path }) => (index === undefined ? { path } : { index, path })))
        .toEqual(
          c.endpoint.issues.map(({ index, path }) =>
            index === undefined ? { path: expandText(path) } : { index, path: expandText(path) }
          ),
        );
    }
    if (c.endpoint.status === 202) expect(queuedRows()).toEqual(c.endpoint.queued);
    else expect(sent).toEqual([]);
    for (const secret of secretsOf(c)) {
      expect(echoes(text, secret), `echoed ${JSON.stringify(secret.slice(0, 40))}`).toBe(false);
    }
  });
});

// The request half (test/fixtures/bad-inputs/requests.json): signature headers and repeated ids.
const run = crypto.randomUUID();
const userOf = (message: unknown) =>
  (message as { body: { rows: { user_id: string }[] } }).body.rows.map((r) => r.user_id);

describe.each(SIGNATURE_CASES.map((c) => [c.id, c] as const))("%s", (_, c) => {
  test(`answers ${c.endpoint.status}`, async () => {
    const body = JSON.stringify({ user_id: `user_${c.id}` });
    const headers = { ...signatureCaseHeaders(c, body, run), "Content-Type": "application/json" };
    const response = await call("/v1/identify", { method: "POST", headers, body });
    expect(response.status, await response.text()).toBe(c.endpoint.status);
    expect(sent.flat().flatMap(userOf)).toEqual(c.endpoint.status === 202 ? [`user_${c.id}`] : []);
  });
});

describe.each(REPEAT_CASES.map((c) => [c.id, c] as const))("%s", (_, c) => {
  test(`answers ${c.statuses.join(", ")} and queues ${c.queued.length}`, async () => {
    const capture = vi.mocked(env.INGEST_QUEUE.sendBatch).getMockImplementation()!;
    for (const [i, request] of c.requests.entries()) {
      const body = JSON.stringify({ user_id: request.user });
      const id = request.id === null ? null : `${c.id}_${run}_${request.id}`;
      const headers: Record<string, string> = request.bearer
        ? {
          Authorization: `Bearer ${TEST_KEYS[request.key ?? "new"]}`,
          ...(id === null ? {} : { "Idempotency-Key": id }),
        }
        : signedHeaders({
          id: id!,
          signature: request.signature ?? `{{v1 ${request.secret ?? "new"}}}`,
          skewSeconds: request.skewSeconds,
        }, body);
      vi.mocked(env.INGEST_QUEUE.sendBatch).mockImplementation((batch, options) =>
        request.queueDown ? Promise.reject(new Error("queue down")) : capture(batch, options)
      );
      const response = await call("/v1/identify", {
        method: "POST",
        headers: { ...headers, "Content-Type": "application/json" },
        body,
      });
      expect(response.status, `request ${i}: ${await response.text()}`).toBe(c.statuses[i]);
      expect(response.headers.get("Idempotent-Replayed"), `request ${i}`).toBe(c.replayed[i] ? "true" : null);
    }
    expect(sent.flat().flatMap(userOf)).toEqual(c.queued);
  });
});

// Who may do what (credentialCases): scopes, read-only admin keys, malformed headers, /health.
const header = (template: string) =>
  template.replace(/\{\{(basic )?(\w+)\}\}/g, (_, basic: string | undefined, name: string) => {
    const key = TEST_KEYS[name as keyof typeof TEST_KEYS];
    return basic ? btoa(`operator:${key}`) : key;
  });

describe.each(CREDENTIAL_CASES.map((c) => [c.id, c] as const))("%s", (_, c) => {
  test(`${c.method} ${c.path} answers ${c.status}${c.error ? ` ${c.error}` : ""}`, async () => {
    // Deletions ever recorded (not those pending: an earlier case's may be forwarded meanwhile).
    const recorded = async () =>
      await runInDurableObject(
        await deliveryStub(),
        (_, state) => state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM deletions").one().n,
      );
    const before = await recorded();
    const response = await call(c.path, {
      method: c.method,
      headers: { Authorization: header(c.authorization), "Content-Type": "application/json" },
      body: c.body === undefined ? null : JSON.stringify(c.body),
    });
    const text = await response.text();
    expect(response.status, text).toBe(c.status);
    if (c.error !== undefined) expect(JSON.parse(text)).toMatchObject({ error: c.error });
    if (c.path === "/health") expect(JSON.parse(text)).toEqual({ status: "ok" });
    if (c.status >= 400) {
      expect(sent).toEqual([]);
      expect(await recorded()).toBe(before);
    }
    for (const key of Object.values(TEST_KEYS)) expect(text).not.toContain(key);
  });
});

test("no case changed Object.prototype in the Worker's isolate", () => {
  expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
});
