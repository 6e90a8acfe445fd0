import { reset } from "cloudflare:test";
import { beforeEach, expect, test } from "vitest";
import { ADMIN_KEY, call, deliveryStub, drained, post, sandbox } from "../helpers.ts";

// Userpilot's error messages may quote what they refused (the sandbox's do). What of an error is
// shown is decided in one place (the core's `describeFailure`): the status's `lastError`, the
// reasons rows are set aside for, and the operator's page all show the same text, which names
// the request, the status and Userpilot's error code, never the value.
const SECRET = "s3cret-value-only-the-row-holds";
const SHOWN = "POST /v1/users/bulk_identify answered 400 (invalid_row)";

beforeEach(async () => {
  await reset();
  await sandbox("/__sandbox/reset", {});
  await sandbox("/__sandbox/config", { rowsPerMinute: 600_000, queueMs: 5 });
});

test("a row Userpilot refuses with a message quoting its value: lastError, the reason and the page never show the value", async () => {
  await sandbox("/__sandbox/faults", { refuseIds: ["poison"] });
  expect((await post("/v1/identify", { user_id: "poison", metadata: { note: SECRET } })).status).toBe(202);
  const stub = await deliveryStub();
  // A row is set aside only while other jobs complete: keep other traffic going until it is.
  for (let i = 0; (await stub.status()).setAside.count === 0; i++) {
    if (i > 600) throw new Error("the refused row was never set aside");
    await post("/v1/identify", { user_id: `traffic${i}` });
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await drained();
  const status = await stub.status();
  expect(status.lastError?.message).toContain(SHOWN);
  const [aside] = (await stub.listSetAside({ limit: 10 })).rows;
  expect(aside!.reason).toContain(SHOWN);
  expect(JSON.stringify(status)).not.toContain(SECRET);
  expect(aside!.reason).not.toContain(SECRET);
  const page =
    await (await call("/admin", { headers: { Authorization: `Basic ${btoa(`op:${ADMIN_KEY}`)}` } }))
      .text();
  expect(page).toContain(SHOWN);
  // The page shows the row's own values in its "values" block, by design; nowhere else.
  const outsideValues = page.replace(/<pre>[\s\S]*?<\/pre>/g, "");
  expect(page).toContain(SECRET);
  expect(outsideValues).not.toContain(SECRET);
});
