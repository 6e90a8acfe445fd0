/**
 * Cloudflare Access settings: `ACCESS_TEAM_DOMAIN`, `ACCESS_AUD` and `ACCESS_ADMIN_SCOPE`, read by
 * the settings schema. With both of the first two set, the operator's routes also accept an Access
 * token (`admin/access.ts` verifies it).
 * @module
 */
import * as v from "valibot";
import type { AdminScope } from "./credentials.ts";

/** Whose tokens an Access identity presents, for which application, and what it may do. */
export interface AccessSettings {
  /** `https://<team>.cloudflareaccess.com`: the tokens' `iss`, and where the team's keys are. */
  readonly issuer: string;
  /** The Access application's audience (AUD) tag: it must be in the token's `aud`. */
  readonly audience: string;
  /** What an Access identity may do: `read`, or `full` (which implies `read`). */
  readonly scopes: readonly AdminScope[];
}

/**
 * What an Access identity may do unless `ACCESS_ADMIN_SCOPE` says otherwise: everything an admin
 * key may. Access is there to replace the shared password, and its policy already says who gets in.
 */
export const DEFAULT_ACCESS_ADMIN_SCOPE: AdminScope = "full";

/** A team domain: `<team>.cloudflareaccess.com`, with or without `https://`. */
const TEAM_DOMAIN = /^(?:https:\/\/)?([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.cloudflareaccess\.com)\/?$/i;
/**
 * For tests only: a JWKS server on this machine (`http://127.0.0.1:<port>`). It cannot weaken a
 * deployment: a Worker on Cloudflare cannot reach a loopback address, so every token is refused.
 */
const LOOPBACK = /^http:\/\/127\.0\.0\.1:[0-9]{1,5}$/;

/** The issuer of `teamDomain` (`https://<team>.cloudflareaccess.com`), or `undefined` if it is none. */
function issuerOf(teamDomain: string): string | undefined {
  if (LOOPBACK.test(teamDomain)) return teamDomain;
  const host = TEAM_DOMAIN.exec(teamDomain)?.[1];
  return host === undefined ? undefined : `https://${host.toLowerCase()}`;
}

/** A var that may be unset: trimmed, `""` when unset. */
const optionalText = v.pipe(v.optional(v.string(), ""), v.trim());

/** The Access vars, as entries of the settings schema (`ACCESS_TEAM_DOMAIN` becomes its issuer, or `""`). */
export const AccessEntries = {
  ACCESS_TEAM_DOMAIN: v.pipe(
    optionalText,
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      if (dataset.value === "") return "";
      const issuer = issuerOf(dataset.value);
      if (issuer !== undefined) return issuer;
      addIssue({ message: "must be your Zero Trust team domain, <team>.cloudflareaccess.com" });
      return NEVER;
    }),
  ),
  ACCESS_AUD: v.pipe(
    optionalText,
    v.regex(/^[\x21-\x7e]*$/, "must be the Access application's AUD tag (no spaces)"),
  ),
  ACCESS_ADMIN_SCOPE: v.pipe(
    optionalText,
    v.transform((scope) => scope || DEFAULT_ACCESS_ADMIN_SCOPE),
    v.picklist(["read", "full"], "must be read or full"),
  ),
} as const;

type AccessVars = {
  ACCESS_TEAM_DOMAIN: string;
  ACCESS_AUD: string;
  ACCESS_ADMIN_SCOPE: AdminScope;
};

/** Whether both Access vars are set, or neither: one without the other would silently do nothing. */
export const accessComplete = (env: Pick<AccessVars, "ACCESS_TEAM_DOMAIN" | "ACCESS_AUD">): boolean =>
  (env.ACCESS_TEAM_DOMAIN === "") === (env.ACCESS_AUD === "");

/** The problem {@link accessComplete} names. */
export const ACCESS_HALF_SET =
  "ACCESS_TEAM_DOMAIN and ACCESS_AUD must be set together (Cloudflare Access), or neither";

/** The Access settings of checked vars, or `undefined` when Access is not configured. */
export function accessSettingsOf(read: AccessVars): AccessSettings | undefined {
  if (read.ACCESS_TEAM_DOMAIN === "" || read.ACCESS_AUD === "") return undefined;
  return {
    issuer: read.ACCESS_TEAM_DOMAIN,
    audience: read.ACCESS_AUD,
    scopes: read.ACCESS_ADMIN_SCOPE === "full" ? ["read", "full"] : ["read"],
  };
}
