import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "vitest";

// `src/worker/env.ts` is the Worker's `Env`, written out so each binding carries its doc. This keeps
// it what `wrangler types` generates from `wrangler.toml` (and the secrets `.dev.vars.example`
// names): the same bindings, each required one declared, and only documented optional extras.
const root = new URL("..", import.meta.url);

/** The names (and `?`) of an interface's members in TypeScript source. */
function members(source: string, header: RegExp): Map<string, { optional: boolean }> {
  const start = source.search(header);
  expect(start, `${header} in the source`).toBeGreaterThanOrEqual(0);
  const body = source.slice(start);
  const block = body.slice(body.indexOf("{") + 1, body.search(/\n\s*}/));
  const found = new Map<string, { optional: boolean }>();
  for (const match of block.matchAll(/^\s*([A-Z_][A-Z0-9_]*)(\?)?:/gm)) {
    found.set(match[1]!, { optional: match[2] === "?" });
  }
  return found;
}

test("the Env of src/worker/env.ts has the bindings `wrangler types` generates from wrangler.toml", () => {
  const dir = mkdtempSync(join(tmpdir(), "userpilot-env-"));
  try {
    const out = join(dir, "worker-configuration.d.ts");
    execFileSync(
      "node_modules/.bin/wrangler",
      ["types", out, "--include-runtime=false", "--strict-vars=false", "--env-file", ".dev.vars.example"],
      {
        cwd: root,
        env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" },
        stdio: "pipe",
      },
    );
    // wrangler 4.164 declares the bindings in `__BaseEnv_Env`, which `Env` extends; older ones in `Env`.
    const generated = members(readFileSync(out, "utf8"), /interface (?:__BaseEnv_)?Env \{/);
    const declared = members(
      readFileSync(new URL("src/worker/env.ts", root), "utf8"),
      /export interface Env \{/,
    );
    expect(generated.size).toBeGreaterThan(5);
    // Every binding and secret wrangler knows of is declared...
    expect([...generated.keys()].filter((name) => !declared.has(name))).toEqual([]);
    // ...and whatever env.ts requires, wrangler.toml provides (the rest are optional tuning vars and
    // the optional USERPILOT service binding, which the Worker reads with a default).
    const required = [...declared].filter(([, { optional }]) => !optional).map(([name]) => name);
    expect(required.filter((name) => !generated.has(name))).toEqual([]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
