import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { expect, test } from "vitest";

const read = (path: string) => JSON.parse(readFileSync(new URL(`../${path}`, import.meta.url), "utf8"));

// The Worker is an npm entry point only: it is deployed with wrangler, which bundles it from
// node_modules, and it needs the Workers types (Durable Objects, Queues) that JSR's type check
// of a Deno module lacks. JSR holds the core, the sandbox and the Hono middleware.
const NPM_ONLY = ["./worker", "./package.json"];

test("package.json (built JS) and deno.json (source) export the same entry points at the same version", () => {
  const npm = read("package.json");
  const deno = read("deno.json");
  expect(deno.version).toBe(npm.version);
  const npmEntries = Object.fromEntries(
    Object.entries(npm.exports as Record<string, string | { types: string; default: string }>)
      .filter(([key]) => !NPM_ONLY.includes(key))
      .map(([key, value]) => {
        if (typeof value === "string") throw new Error(`${key} has no types condition`);
        expect(Object.keys(value)[0]).toBe("types"); // types first: resolvers read conditions in order
        expect(value.types).toBe(value.default.replace(/\.js$/, ".d.ts"));
        return [key, value.default.replace(/^\.\/dist\//, "./").replace(/\.js$/, ".ts")];
      }),
  );
  expect(deno.exports).toEqual(npmEntries);
  expect(Object.keys(npm.exports)).toContain("./worker");
  expect(npm.type).toBe("module");
  expect(npm.sideEffects).toBe(false);
  expect(deno.license).toBe(npm.license);
});

test("runtime dependencies take caret ranges, Hono and postgres are optional peers, and deno.json maps each to the same range", () => {
  const npm = read("package.json");
  const deno = read("deno.json");
  expect(npm.dependencies).toEqual({ valibot: expect.stringMatching(/^\^\d+\.\d+\.\d+$/) });
  // Peers, so a Hono app that installs this package keeps its one Hono (and its types); optional
  // ones, so a project that uses the core or the CLI alone gets neither Hono nor a database driver
  // (only userpilot-bulk/postgres loads postgres).
  expect(npm.peerDependencies).toEqual({ hono: "^4", postgres: "^4.2.0" });
  expect(npm.peerDependenciesMeta).toEqual({ hono: { optional: true }, postgres: { optional: true } });
  for (const [name, range] of Object.entries({ ...npm.dependencies, ...npm.peerDependencies })) {
    expect(deno.imports[name]).toBe(`npm:${name}@${range}`);
  }
  expect(deno.imports["hono/"]).toBe(`npm:/hono@${npm.peerDependencies.hono}/`);
  // Pinned exactly for development: what the tests and the OpenAPI generator (npm run openapi) use.
  for (const [name, version] of Object.entries(npm.devDependencies as Record<string, string>)) {
    if (name === "userpilot-bulk-toolchain") continue; // the Node binaries (test/toolchain.test.ts)
    expect(version, name).toMatch(/^\d+\.\d+\.\d+(?:-[\w.]+)?$/); // Miniflare 5 is wrangler's beta
  }
  expect(npm.devDependencies.hono).toMatch(/^4\./);
  expect(deno.imports["@valibot/to-json-schema"]).toBe(
    `npm:@valibot/to-json-schema@${npm.devDependencies["@valibot/to-json-schema"]}`,
  );
});

test("package metadata: the Node the toolchain needs, the MIT licence file, where the code lives", () => {
  const npm = read("package.json");
  expect(npm.engines).toEqual({ node: ">=20.19.0" });
  expect(npm.license).toBe("MIT");
  const license = readFileSync(new URL("../LICENSE", import.meta.url), "utf8");
  expect(license).toMatch(/^MIT License\n/);
  expect(npm.repository.url).toMatch(/^git\+https:\/\/github\.com\/[\w-]+\/[\w-]+\.git$/);
  const home = npm.repository.url.replace(/^git\+/, "").replace(/\.git$/, "");
  expect(npm.homepage).toBe(`${home}#readme`);
  expect(npm.bugs).toEqual({ url: `${home}/issues` });
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
