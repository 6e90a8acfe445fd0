import { readFileSync } from "node:fs";
import { expect, test } from "vitest";

const read = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), "utf8");

/** Every name an entry point exports, types included, read from its export lists. */
function exportedNames(path: string): string[] {
  const names: string[] = [];
  for (const match of read(path).matchAll(/export\s+(?:type\s+)?\{([^}]*)\}/g)) {
    for (const part of match[1]!.split(",")) {
      const name = part.trim().replace(/^type\s+/, "").split(/\s+as\s+/).pop()!.trim();
      if (name) names.push(name);
    }
  }
  return names;
}

test.each(["mod.ts", "src/sandbox/mod.ts", "src/hono/mod.ts", "src/worker/index.ts"])(
  "the README's API reference names every export of %s",
  (entry) => {
    const readme = read("README.md");
    const names = exportedNames(entry);
    expect(names.length).toBeGreaterThan(0);
    expect(names.filter((name) => !readme.includes(`\`${name}\``))).toEqual([]);
  },
);

test("the README shows the fresh-machine commands", () => {
  const readme = read("README.md");
  for (const command of ["npm ci", "npm start", "npm test"]) expect(readme).toContain(command);
});
