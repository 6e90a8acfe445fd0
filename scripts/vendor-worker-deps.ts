/**
 * Part of `npm run build` (after `tsc`): copy `@valibot/to-json-schema`, which only the Worker's
 * OpenAPI document uses, into `dist/vendor/` and point the built Worker at that copy. So the
 * package does not install it for every user (the core, the CLI and the middleware never load
 * it), yet `userpilot-bulk/worker` builds from the tarball with nothing more installed. The copy
 * is the version package.json pins as a devDependency (one ESM file without imports), with its
 * MIT licence beside it.
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SPECIFIER = "@valibot/to-json-schema";
const source = join(ROOT, "node_modules", SPECIFIER);
const vendor = join(ROOT, "dist/vendor");
const target = join(vendor, "valibot-to-json-schema.js");

const code = readFileSync(join(source, "dist/index.mjs"), "utf8");
// The copy must stand alone: a bare import in it would need the package installed after all.
if (/^\s*import\s|\bimport\s*\(/m.test(code)) {
  throw new Error(`${SPECIFIER} imports something; vendor it whole`);
}
mkdirSync(vendor, { recursive: true });
writeFileSync(target, code);
copyFileSync(join(source, "dist/index.d.mts"), join(vendor, "valibot-to-json-schema.d.ts"));
copyFileSync(join(source, "LICENSE.md"), join(vendor, "valibot-to-json-schema.LICENSE.md"));

function* files(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* files(path);
    else if (/\.(js|d\.ts)$/.test(entry.name)) yield path;
  }
}

const quoted = `"${SPECIFIER}"`;
let rewritten = 0;
for (const path of files(join(ROOT, "dist/src"))) {
  const text = readFileSync(path, "utf8");
  if (!text.includes(quoted)) continue;
  const relativePath = relative(dirname(path), target).split("\\").join("/");
  const specifier = relativePath.startsWith(".") ? relativePath : `./${relativePath}`;
  writeFileSync(path, text.replaceAll(quoted, `"${specifier}"`));
  rewritten++;
}
if (rewritten === 0) throw new Error(`no built file imports ${SPECIFIER}: is this step still needed?`);
// stderr: `npm pack --json` writes its answer on stdout.
console.error(`vendored ${SPECIFIER} into dist/vendor/ for ${rewritten} built file(s)`);
