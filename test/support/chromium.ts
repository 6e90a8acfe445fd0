/**
 * A real browser for tests, driven by playwright-core: a Chromium or Chrome already on the
 * machine (`CHROMIUM_PATH`, else the usual install locations of Linux, macOS and Windows).
 * Without one, a browser test is skipped with a line saying how to run it, except under CI,
 * where a missing browser is installed (Debian's `chromium`, as root: CI reaches Debian's
 * packages) or fails the run. Nothing is ever downloaded from elsewhere.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, win32 } from "node:path";
import process from "node:process";
import { type BrowserContext, chromium } from "playwright-core";
import { aptGetInstall } from "./apt.ts";
import { runningInCI } from "../../scripts/toolchain.ts";

/** Where Debian's `chromium` package puts the browser. */
const DEBIAN_CHROMIUM = "/usr/bin/chromium";

/** What a browser lookup may see of the machine; tests of the lookup pass their own. */
export interface Machine {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly platform: NodeJS.Platform;
  readonly exists: (path: string) => boolean;
  /** Install a browser (CI only); throws when it cannot. */
  readonly install: () => void;
}

const THIS_MACHINE: Machine = {
  env: process.env,
  platform: process.platform,
  exists: existsSync,
  install: installDebianChromium,
};

/** The usual install locations of Chromium and Chrome on `platform`, in the order tried. */
export function usualLocations(
  platform: NodeJS.Platform,
  env: Readonly<Record<string, string | undefined>>,
): string[] {
  if (platform === "darwin") {
    const apps = ["Google Chrome.app/Contents/MacOS/Google Chrome", "Chromium.app/Contents/MacOS/Chromium"];
    const roots = ["/Applications", ...(env["HOME"] ? [`${env["HOME"]}/Applications`] : [])];
    return roots.flatMap((root) => apps.map((app) => `${root}/${app}`));
  }
  if (platform === "win32") {
    const roots = [env["PROGRAMFILES"], env["PROGRAMFILES(X86)"], env["LOCALAPPDATA"]].filter(
      (root): root is string => root !== undefined && root !== "",
    );
    const apps = ["Google\\Chrome\\Application\\chrome.exe", "Chromium\\Application\\chrome.exe"];
    return roots.flatMap((root) => apps.map((app) => win32.join(root, app)));
  }
  return [
    DEBIAN_CHROMIUM,
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome-stable",
    "/usr/bin/google-chrome",
    "/snap/bin/chromium",
    "/opt/google/chrome/chrome",
  ];
}

/**
 * The browser to drive: `CHROMIUM_PATH` when it is set (and nothing else: it names the one to
 * use), else the first of the usual locations that exists.
 */
export function findChromium(machine: Machine = THIS_MACHINE): string | undefined {
  const chosen = machine.env["CHROMIUM_PATH"];
  if (chosen !== undefined && chosen !== "") return machine.exists(chosen) ? chosen : undefined;
  return usualLocations(machine.platform, machine.env).find((path) => machine.exists(path));
}

/** A browser for a test file: its path, or why the file is skipped. */
export type TestBrowser = { readonly path: string } | { readonly skip: string };

/**
 * The browser a test file runs, found as {@link findChromium} says. None found: outside CI, a
 * reason to skip that says how to run it; under CI (`CI` set), installed on Debian when no
 * `CHROMIUM_PATH` was given, else an error.
 */
export function browserForTests(machine: Machine = THIS_MACHINE): TestBrowser {
  const found = findChromium(machine);
  if (found !== undefined) return { path: found };
  const chosen = machine.env["CHROMIUM_PATH"];
  const looked = chosen ? `CHROMIUM_PATH=${chosen} does not exist` : "no Chromium or Chrome found at " +
    `CHROMIUM_PATH or the usual places (${usualLocations(machine.platform, machine.env).join(", ")})`;
  if (!runningInCI(machine.env)) {
    return {
      skip: `${looked}. To run it, install Chromium or Chrome, or set CHROMIUM_PATH to one ` +
        "(npm test installs Debian's chromium itself when CI is set and it runs as root).",
    };
  }
  if (chosen || machine.platform !== "linux") throw new Error(`CI is set and ${looked}`);
  machine.install();
  const installed = findChromium(machine);
  if (installed === undefined) throw new Error(`CI is set, chromium was installed, and still ${looked}`);
  return { path: installed };
}

/** Install Debian's chromium (about 15 s on the CI machine); needs root and Debian's mirror. */
function installDebianChromium(): void {
  if (!existsSync("/etc/debian_version")) throw new Error("not Debian: install Chromium or Chrome yourself");
  aptGetInstall("chromium");
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
 * The browser at `executablePath`, headless, with a fresh profile (`--user-data-dir`, removed on
 * close). `options` are playwright's context options: credentials for HTTP auth, JavaScript on or
 * off, locale, viewport.
 */
export async function launchChromium(
  executablePath: string,
  options: Parameters<typeof chromium.launchPersistentContext>[1] = {},
): Promise<BrowserContext & { dispose(): Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), "userpilot-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
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
