import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect, test } from "vitest";
import { AUDIT_KEPT } from "../../../src/worker/store/audit.ts";
import { DeliveryStore } from "../../../src/worker/store/index.ts";

const T0 = 1_800_000_000_000;

test("the audit log keeps what was done, by whom and when, newest first, and only the newest entries", async () => {
  const stub = env.DELIVERY.get(env.DELIVERY.idFromName("audit-test"));
  await runInDurableObject(stub, (_, state) => {
    const store = new DeliveryStore(state.storage, T0);
    const first = store.audit.add(
      { credential: "backend", action: "delete", route: "DELETE /v1/users", named: 3, taken: 2 },
      T0,
    );
    expect(first).toEqual({
      seq: 1,
      at: new Date(T0).toISOString(),
      credential: "backend",
      action: "delete",
      route: "DELETE /v1/users",
      named: 3,
      taken: 2,
    });
    store.transaction(() => {
      for (let i = 1; i <= AUDIT_KEPT + 1; i++) {
        store.audit.add({
          credential: "ops",
          action: "purge",
          route: "POST /admin/set-aside",
          named: null,
          taken: i,
        }, T0 + i);
      }
    });
    const count = state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM audit").one().n;
    expect(count).toBe(AUDIT_KEPT);
    const [newest, next] = store.audit.recent(2);
    expect(newest).toMatchObject({ seq: AUDIT_KEPT + 2, taken: AUDIT_KEPT + 1, named: null });
    expect(next!.seq).toBe(AUDIT_KEPT + 1);
    expect(store.audit.recent(AUDIT_KEPT + 5).at(-1)!.seq).toBe(3);
  });
});
