/**
 * `npm test` on a machine without a browser: the browser test is skipped with a line saying how
 * to run it, except under CI, where a missing browser is installed (Debian) or fails the run.
 * First the lookup on made-up machines, then the real test file run by vitest with the browser
 * hidden from it (`CHROMIUM_PATH` naming a file that does not exist: the only one it may use).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, test } from "vitest";
import { browserForTests, findChromium, type Machine, usualLocations } from "../support/chromium.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** A machine where only `present` exists; `install` makes `installs` exist, or throws. */
function machine(
  platform: NodeJS.Platform,
  env: Record<string, string>,
  present: string[] = [],
  installs?: string,
): Machine & { installed: () => number } {
  const files = new Set(present);
  let installed = 0;
  return {
    env,
    platform,
    exists: (path) => files.has(path),
    install: () => {
      installed++;
      if (installs === undefined) throw new Error("apt-get: permission denied");
      files.add(installs);
    },
    installed: () => installed,
  };
}

describe("the lookup", () => {
  test("CHROMIUM_PATH first, then the usual places of each OS, in order", () => {
    const chrome = "/opt/google/chrome/chrome";
    expect(findChromium(machine("linux", {}, [chrome, "/snap/bin/chromium"]))).toBe("/snap/bin/chromium");
    expect(findChromium(machine("linux", { CHROMIUM_PATH: "/x/chrome" }, ["/x/chrome", chrome]))).toBe(
      "/x/chrome",
    );
    const mac = "/Users/ada/Applications/Chromium.app/Contents/MacOS/Chromium";
    expect(findChromium(machine("darwin", { HOME: "/Users/ada" }, [mac]))).toBe(mac);
    const windows = "C:\\Users\\ada\\AppData\\Local\\Google\\Chrome\\Application\\chrome.exe";
    expect(findChromium(machine("win32", { LOCALAPPDATA: "C:\\Users\\ada\\AppData\\Local" }, [windows])))
      .toBe(windows);
    expect(usualLocations("win32", { PROGRAMFILES: "C:\\Program Files" })).toContain(
      "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
    );
  });

  test("a CHROMIUM_PATH that names nothing hides every other browser", () => {
    expect(findChromium(machine("linux", { CHROMIUM_PATH: "/nowhere" }, ["/usr/bin/chromium"])))
      .toBeUndefined();
  });

  test.each(["linux", "darwin", "win32"] as const)(
    "no browser on %s, outside CI: skipped, saying how to run it, nothing installed",
    (platform) => {
      const bare = machine(platform, { CI: "false" });
      const found = browserForTests(bare);
      expect(found).toEqual({ skip: expect.stringContaining("set CHROMIUM_PATH") });
      expect(bare.installed()).toBe(0);
    },
  );

  test("no browser under CI on Linux: installed, then used; an install that fails fails the run", () => {
    const debian = machine("linux", { CI: "true" }, [], "/usr/bin/chromium");
    expect(browserForTests(debian)).toEqual({ path: "/usr/bin/chromium" });
    expect(debian.installed()).toBe(1);
    expect(() => browserForTests(machine("linux", { CI: "1" }))).toThrow(/apt-get: permission denied/);
  });

  test("no browser under CI elsewhere, or a CHROMIUM_PATH that names nothing: fails, installing nothing", () => {
    const mac = machine("darwin", { CI: "true" }, [], "/Applications/Chromium.app/Contents/MacOS/Chromium");
    expect(() => browserForTests(mac)).toThrow(/^CI is set and no Chromium or Chrome found/);
    const named = machine("linux", { CI: "true", CHROMIUM_PATH: "/nowhere" }, [], "/usr/bin/chromium");
    expect(() => browserForTests(named)).toThrow("CI is set and CHROMIUM_PATH=/nowhere does not exist");
    expect(mac.installed() + named.installed()).toBe(0);
  });
});

describe("the browser test itself, with the browser hidden", () => {
  // Its own config: the file alone, without the system project's set-up (packing the tarball).
  const dir = mkdtempSync(join(tmpdir(), "userpilot-hidden-browser-"));
  const config = join(dir, "vitest.config.mjs");
  writeFileSync(config, `export default { test: { include: ["test/browser/admin-page.test.ts"] } };\n`);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const run = (ci: Record<string, string>) => {
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(process.env)) {
      if (value !== undefined && key !== "CI" && !key.startsWith("VITEST")) env[key] = value;
    }
    const result = spawnSync(
      process.execPath,
      [join(ROOT, "node_modules/vitest/vitest.mjs"), "run", "--config", config, "--root", ROOT],
      {
        cwd: ROOT,
        encoding: "utf8",
        env: { ...env, ...ci, CHROMIUM_PATH: join(dir, "no-chromium-here"), NO_COLOR: "1" },
        timeout: 120_000,
      },
    );
    return { status: result.status, output: result.stdout + result.stderr };
  };

  test("outside CI: vitest passes, reporting the test skipped and how to run it", () => {
    const { status, output } = run({});
    expect(output).toMatch(
      /browser\/admin-page\.test\.ts skipped: CHROMIUM_PATH=\S+ does not exist\. To run it/,
    );
    expect(output).toMatch(/Tests\s+(\d+) skipped \(\1\)/); // every test of the file, none run
    expect(status).toBe(0);
  }, 120_000);

  test("with CI=true: vitest fails, naming the missing browser", () => {
    const { status, output } = run({ CI: "true" });
    expect(output).toMatch(/CI is set and CHROMIUM_PATH=\S+ does not exist/);
    expect(status).toBe(1);
  }, 120_000);
});
