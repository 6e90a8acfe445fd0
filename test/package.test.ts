import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { expect, test } from "vitest";

const read = (path: string) => JSON.parse(readFileSync(new URL(`../${path}`, import.meta.url), "utf8"));

test("package.json (built JS) and deno.json (source) export the same entry points at the same version", () => {
  const npm = read("package.json");
  const deno = read("deno.json");
  expect(deno.version).toBe(npm.version);
  const npmEntries = Object.fromEntries(
    Object.entries(npm.exports as Record<string, string | { types: string; default: string }>)
      .filter(([key]) => key !== "./package.json")
      .map(([key, value]) => {
        if (typeof value === "string") throw new Error(`${key} has no types condition`);
        expect(Object.keys(value)[0]).toBe("types"); // types first: resolvers read conditions in order
        expect(value.types).toBe(value.default.replace(/\.js$/, ".d.ts"));
        return [key, value.default.replace(/^\.\/dist\//, "./").replace(/\.js$/, ".ts")];
      }),
  );
  expect(deno.exports).toEqual(npmEntries);
  expect(npm.type).toBe("module");
  expect(npm.sideEffects).toBe(false);
});

test("deno.json maps each runtime dependency to the exact version package.json pins", () => {
  const npm = read("package.json");
  const deno = read("deno.json");
  for (const [name, version] of Object.entries(npm.dependencies as Record<string, string>)) {
    expect(version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(deno.imports[name]).toBe(`npm:${name}@${version}`);
  }
  for (const version of Object.values(npm.devDependencies as Record<string, string>)) {
    expect(version).toMatch(/^\d+\.\d+\.\d+$/);
  }
});

test("npm run example:seed identifies the seed users through the sandbox and shows what it holds", () => {
  const output = execFileSync("node_modules/.bin/tsx", ["examples/seed.ts"], {
    cwd: new URL("..", import.meta.url),
    encoding: "utf8",
    timeout: 60_000,
  });
  expect(output).toMatch(/Done: 1 job\(s\) completed; 0 row\(s\) rejected/);
  expect(output).toContain('"user_id": "user_123"');
  expect(output).toContain('"email": "emma.davis@techstartup.com"');
});
