/**
 * The Workers compatibility date the tests run under: `wrangler.toml`'s, read from it so that
 * Miniflare outside wrangler (the workerd project, the built bundle) runs the date we deploy.
 */
import { readFileSync } from "node:fs";

const WRANGLER_TOML = new URL("../../wrangler.toml", import.meta.url);

function readCompatibilityDate(): string {
  const date = /^compatibility_date = "(\d{4}-\d{2}-\d{2})"$/m.exec(readFileSync(WRANGLER_TOML, "utf8"))?.[1];
  if (date === undefined) throw new Error("wrangler.toml has no compatibility_date line");
  return date;
}

/** `compatibility_date` of `wrangler.toml`. */
export const COMPATIBILITY_DATE: string = readCompatibilityDate();
