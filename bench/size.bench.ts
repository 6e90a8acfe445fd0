/**
 * Benchmark 7, size: the core as a user bundles it (esbuild, minified, ESM, then gzip -9) for a
 * typical import (UserpilotClient + buildBulkIdentifyRequests) and for the whole of mod.ts, and
 * the Worker bundle `wrangler deploy --dry-run` would upload (gzip -9 of every module).
 *
 *   node --import tsx bench/size.bench.ts
 */
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { emit } from "./measure.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const kb = (bytes: number) => bytes / 1024;

async function bundle(contents: string): Promise<{ minified: number; gzipped: number }> {
  const result = await build({
    stdin: { contents, resolveDir: ROOT, loader: "ts", sourcefile: "entry.ts" },
    bundle: true,
    minify: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    write: false,
    logLevel: "warning",
  });
  const code = result.outputFiles[0]!.contents;
  return { minified: code.length, gzipped: gzipSync(code, { level: 9 }).length };
}

const typical = await bundle(
  'export { UserpilotClient, buildBulkIdentifyRequests } from "./mod.ts";',
);
const whole = await bundle('export * from "./mod.ts";');

const outdir = mkdtempSync(join(tmpdir(), "userpilot-size-"));
let worker = { raw: 0, gzipped: 0, files: 0 };
try {
  execFileSync("node_modules/.bin/wrangler", ["deploy", "--dry-run", "--outdir", outdir], {
    cwd: ROOT,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" },
    stdio: "pipe",
  });
  for (const name of readdirSync(outdir)) {
    const path = join(outdir, name);
    if (!statSync(path).isFile() || name.endsWith(".map") || name === "README.md") continue;
    const code = readFileSync(path);
    worker = {
      raw: worker.raw + code.length,
      gzipped: worker.gzipped + gzipSync(code, { level: 9 }).length,
      files: worker.files + 1,
    };
  }
} finally {
  rmSync(outdir, { recursive: true, force: true });
}

const line = (size: { minified?: number; raw?: number; gzipped: number }) =>
  `${kb(size.minified ?? size.raw ?? 0).toFixed(1)} KB minified, ${kb(size.gzipped).toFixed(1)} KB gzipped`;
emit({
  id: "7",
  name: "Size (esbuild --minify + gzip -9; wrangler deploy --dry-run + gzip -9)",
  figures: [
    { label: "core, typical import (UserpilotClient + buildBulkIdentifyRequests)", value: line(typical) },
    { label: "core, everything mod.ts exports", value: line(whole) },
    {
      label: `Worker bundle (${worker.files} module${worker.files === 1 ? "" : "s"}, as uploaded)`,
      value: `${kb(worker.raw).toFixed(1)} KB, ${kb(worker.gzipped).toFixed(1)} KB gzipped`,
    },
  ],
  target: "core (typical import) ≤ 10 KB gzipped; Worker ≤ 60 KB gzipped",
  met: kb(typical.gzipped) <= 10 && kb(worker.gzipped) <= 60,
  notes: ["the core bundles its one dependency, valibot; the Worker bundles hono and valibot"],
});
