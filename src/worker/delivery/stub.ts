/** Which Durable Object holds an environment's backlog. @module */
import { normalizeBaseUrl } from "../../core/base-url.ts";
import type { DeliveryObject } from "./object.ts";

/**
 * The Durable Object that holds the backlog for the configured Userpilot environment. It is named
 * by the base URL alone: rotating `USERPILOT_API_KEY` must not split the backlog in two. Needs no
 * other setting, so the Queue consumer can always hand rows over, even while secrets are being
 * fixed.
 *
 * @example
 * ```ts
 * const status = await deliveryStub(c.env).status();
 * ```
 */
export function deliveryStub(
  env: {
    readonly DELIVERY: DurableObjectNamespace<DeliveryObject>;
    readonly USERPILOT_BASE_URL?: string | undefined;
  },
): DurableObjectStub<DeliveryObject> {
  let baseUrl: string;
  try {
    baseUrl = normalizeBaseUrl(env.USERPILOT_BASE_URL || "us");
  } catch {
    baseUrl = `invalid:${env.USERPILOT_BASE_URL}`; // still one stable place; the alarm reports the setting
  }
  return env.DELIVERY.get(env.DELIVERY.idFromName(baseUrl));
}
