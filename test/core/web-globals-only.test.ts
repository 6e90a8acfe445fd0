import { readdirSync, readFileSync } from "node:fs";
import { expect, test } from "vitest";

const root = new URL("../../src/core/", import.meta.url);
const forbidden = [
  /from\s+["']node:/,
  /\brequire\(/,
  /\bprocess\./,
  /\bBuffer\b/,
  /\bDeno\./,
  /\bBun\./,
  /from\s+["']\.\.\/(worker|sandbox|cli)\//,
];

test("src/core reaches the platform only through web globals", () => {
  const files = readdirSync(root).filter((name) => name.endsWith(".ts"));
  expect(files.length).toBeGreaterThan(5);
  for (const name of files) {
    const code = readFileSync(new URL(name, root), "utf8")
      .split("\n")
      .filter((line) => !line.trim().startsWith("//") && !line.trim().startsWith("*"))
      .join("\n");
    for (const pattern of forbidden) expect(code, `${name} matches ${pattern}`).not.toMatch(pattern);
  }
});
