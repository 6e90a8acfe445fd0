import { expect, test } from "vitest";
import { uploadingFetch } from "../../src/cli/upload.ts";

test("a bulk-identify JSON body leaves as an NDJSON file in multipart field `file`", async () => {
  const seen: Request[] = [];
  const fetch = uploadingFetch((request) => {
    seen.push(request);
    return Promise.resolve(new Response("{}", { status: 202 }));
  });
  const rows = [{ user_id: "u1", metadata: { plan: "pro" } }, { user_id: "u2" }];
  const controller = new AbortController();
  await fetch(
    new Request("https://analytex.userpilot.io/v1/users/bulk_identify", {
      method: "POST",
      headers: { Authorization: "Token k", "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ users: rows }),
      signal: controller.signal,
    }),
  );
  const [sent] = seen as [Request];
  expect(sent.headers.get("Authorization")).toBe("Token k");
  expect(sent.headers.get("Content-Type")).toMatch(/^multipart\/form-data; boundary=/);
  const file = (await sent.formData()).get("file") as File;
  expect(file.name).toBe("users.ndjson");
  expect(await file.text()).toBe(rows.map((row) => `${JSON.stringify(row)}\n`).join(""));
  controller.abort();
  expect(sent.signal.aborted).toBe(true);
});

test("every other request passes through untouched", async () => {
  const seen: Request[] = [];
  const fetch = uploadingFetch((request) => {
    seen.push(request);
    return Promise.resolve(new Response("{}"));
  });
  const poll = new Request("https://analytex.userpilot.io/v1/background_jobs/abc");
  await fetch(poll);
  expect(seen).toEqual([poll]);
});
