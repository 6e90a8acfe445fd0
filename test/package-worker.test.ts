import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Miniflare } from "miniflare";
import { afterAll, beforeAll, expect, inject, test } from "vitest";
import { buildWorker, loadBuiltWorker } from "./support/built-worker.ts";

// Deploying the endpoint from the package, as docs/deploying.md's "Deploying the Worker from the
// package" says: a fresh Hono 4 project installs the tarball, re-exports userpilot-bulk/worker,
// copies the package's wrangler.toml with `main` set to its own entry, and builds with wrangler.
const work = mkdtempSync(join(tmpdir(), "userpilot-worker-project-"));
const project = join(work, "my-ingest");
const outdir = join(project, ".wrangler/dry-run");
let mf: Miniflare | undefined;

beforeAll(() => {
  mkdirSync(join(project, "src"), { recursive: true });
  writeFileSync(
    join(project, "package.json"),
    JSON.stringify({ name: "my-ingest", private: true, type: "module" }),
  );
  // From the local cache where it can (npm ci filled it); the registry only for what is missing.
  execFileSync("npm", [
    "install",
    inject("tarball"),
    "hono@^4",
    "--no-audit",
    "--no-fund",
    "--prefer-offline",
  ], {
    cwd: project,
    stdio: "ignore",
  });
  writeFileSync(
    join(project, "src/index.ts"),
    'export { default, DeliveryObject, ReplayGuard } from "userpilot-bulk/worker";\n',
  );
  const template = readFileSync(join(project, "node_modules/userpilot-bulk/wrangler.toml"), "utf8");
  const main = /^main = "[^"]*"$/m;
  expect(template).toMatch(main);
  writeFileSync(join(project, "wrangler.toml"), template.replace(main, 'main = "src/index.ts"'));
  buildWorker(project, outdir);
}, 120_000);

afterAll(async () => {
  await mf?.dispose();
  rmSync(work, { recursive: true, force: true });
});

/** Every installed copy of `name` under `dir`'s node_modules, nested ones included, by version. */
function installedCopies(dir: string, name: string): string[] {
  const found: string[] = [];
  const visit = (modules: string): void => {
    if (!existsSync(modules)) return;
    for (const entry of readdirSync(modules)) {
      const packages = entry.startsWith("@")
        ? readdirSync(join(modules, entry)).map((inner) => join(entry, inner))
        : [entry];
      for (const pkg of packages) {
        const manifest = join(modules, pkg, "package.json");
        if (pkg === name && existsSync(manifest)) {
          found.push((JSON.parse(readFileSync(manifest, "utf8")) as { version: string }).version);
        }
        visit(join(modules, pkg, "node_modules"));
      }
    }
  };
  visit(join(dir, "node_modules"));
  return found;
}

test("a Hono 4 app that installs the tarball has one Hono: the package names it as a peer", () => {
  const copies = installedCopies(project, "hono");
  expect(copies).toHaveLength(1);
  expect(copies[0]).toMatch(/^4\./);
  const manifest = JSON.parse(
    readFileSync(join(project, "node_modules/userpilot-bulk/package.json"), "utf8"),
  );
  expect(manifest.peerDependencies).toEqual({ hono: "^4", postgres: "^4.2.0" });
  expect(Object.keys(manifest.dependencies)).toEqual(["valibot"]);
  // Both are optional peers: an app that never syncs from PostgreSQL does not get postgres.
  expect(manifest.peerDependenciesMeta).toEqual({ hono: { optional: true }, postgres: { optional: true } });
  expect(installedCopies(project, "postgres")).toEqual([]);
});

test("the OpenAPI generator is not installed: the built Worker carries its own copy", () => {
  expect(installedCopies(project, "@valibot/to-json-schema")).toEqual([]);
});

test("the built Worker runs: /health with its settings, and the OpenAPI document", async () => {
  mf = loadBuiltWorker(outdir, {
    USERPILOT_API_KEY: "up-key-of-the-packaged-worker",
    USERPILOT_BASE_URL: "eu",
    INGEST_KEYS: "packaged-ingest-key-8c7b6a5f4e3d2c1b0a99f8e7d6c5",
    ADMIN_KEYS: "packaged-admin-key-1a2b3c4d5e6f708192a3b4c5d6e7",
  });
  expect(await (await mf.dispatchFetch("http://localhost/health")).json()).toEqual({ status: "ok" });
  const openapi = (await (await mf.dispatchFetch("http://localhost/openapi.json")).json()) as {
    paths: Record<string, unknown>;
  };
  expect(Object.keys(openapi.paths)).toContain("/v1/users/bulk_identify");
  const unauthorised = await mf.dispatchFetch("http://localhost/v1/identify", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user_id: "u1" }),
  });
  expect(unauthorised.status).toBe(401);
});
