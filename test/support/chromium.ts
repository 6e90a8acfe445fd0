/**
 * A real browser for tests: Debian's `chromium` package, driven by playwright-core. CI starts from
 * a clean clone that reaches only the npm registry and Debian's packages, so the package is
 * installed here when it is missing (as root, as CI runs); nothing else is downloaded.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium } from "playwright-core";
import { aptGetInstall } from "./apt.ts";

export const CHROMIUM = "/usr/bin/chromium";

/** Install Debian's chromium unless it is there already (about 15 s on the CI machine). */
export function ensureChromium(): void {
  if (existsSync(CHROMIUM)) return;
  aptGetInstall("chromium");
  if (!existsSync(CHROMIUM)) throw new Error(`apt-get installed chromium, yet ${CHROMIUM} is missing`);
}

/** Flags for a quiet, offline, throwaway browser. */
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * A headless Chromium with a fresh profile (`--user-data-dir`, removed on close). `options` are
 * playwright's context options: credentials for HTTP auth, JavaScript on or off, locale, viewport.
 */
export async function launchChromium(
  options: Parameters<typeof chromium.launchPersistentContext>[1] = {},
): Promise<BrowserContext & { dispose(): Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), "userpilot-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    ...options,
  });
  return Object.assign(context, {
    async dispose() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  });
}
