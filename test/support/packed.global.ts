/**
 * Global setup of the system tests: `npm pack` once (which builds `dist/` through `prepack`), so
 * every test of the package installs the same tarball a user would, without packing it again.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    /** The packed tarball's path. */
    tarball: string;
    /** The paths inside it, as `npm pack` lists them. */
    packedFiles: string[];
    /** `TEST_SEED` of the run for tests in workerd, or "" (test/support/seed.ts; test/worker/env.d.ts too). */
    testSeedOverride: string;
  }
}

export default function setup(project: TestProject): () => void {
  const work = mkdtempSync(join(tmpdir(), "userpilot-pack-"));
  const [info] = JSON.parse(
    execFileSync("npm", ["pack", "--json", "--pack-destination", work], {
      cwd: new URL("../../", import.meta.url).pathname,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }),
  ) as { filename: string; files: { path: string }[] }[];
  project.provide("tarball", join(work, info!.filename));
  project.provide("packedFiles", info!.files.map((file) => file.path));
  return () => rmSync(work, { recursive: true, force: true });
}
