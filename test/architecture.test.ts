import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { expect, test } from "vitest";

// The layout rules of ARCHITECTURE.md and docs/development.md ("Where things go"), checked on the
// source: every import (type-only ones too) is read with TypeScript's own scanner.
const ROOT = fileURLToPath(new URL("../", import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) return sources(path);
    return /\.tsx?$/.test(name) ? [path] : [];
  });
}

/** Each file of src/ (and mod.ts) with the files of src/ it imports. */
const graph = new Map<string, string[]>(
  ["mod.ts", ...sources("src")].map((file) => {
    const { importedFiles } = ts.preProcessFile(readFileSync(join(ROOT, file), "utf8"), true, true);
    const imports = importedFiles
      .map(({ fileName }) => fileName)
      .filter((name) => name.startsWith("."))
      .map((name) => normalize(join(dirname(file), name)));
    return [file, imports];
  }),
);

/** Every import cycle, as the files around it. */
function cycles(): string[][] {
  const found: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (file: string): void => {
    state.set(file, "open");
    path.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === "open") found.push([...path.slice(path.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    path.pop();
    state.set(file, "done");
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  return found;
}

/** The room of a file under src/worker/ (`ingest`, `admin`, `delivery`, `store`), or undefined. */
const roomOf = (file: string): string | undefined => /^src\/worker\/([a-z]+)\//.exec(file)?.[1];

test("there is no import cycle in src/ (type-only imports included)", () => {
  expect(graph.size).toBeGreaterThan(100);
  expect(cycles().map((cycle) => cycle.join(" → "))).toEqual([]);
});

test("store/ is imported only from delivery/ (and itself)", () => {
  const outside = [...graph].flatMap(([file, imports]) =>
    imports.filter((target) =>
      roomOf(target) === "store" && !["store", "delivery"].includes(roomOf(file) ?? "")
    )
      .map((target) => `${file} → ${target}`)
  );
  expect(outside).toEqual([]);
});

/**
 * The one import past a face: `env.ts` names the replay guard's class from its own module, as the
 * ingest room reads `Env` and its face would be a cycle.
 */
const PAST_A_FACE = ["src/worker/env.ts → src/worker/ingest/replay-guard.ts"];

test("a room of src/worker is entered only through its index.ts", () => {
  const behind = [...graph].flatMap(([file, imports]) =>
    imports.filter((target) => {
      const room = roomOf(target);
      return room !== undefined && room !== roomOf(file) && !target.endsWith(`${room}/index.ts`);
    }).map((target) => `${file} → ${target}`)
  );
  expect(behind).toEqual(PAST_A_FACE);
});

test("src/core imports nothing but itself", () => {
  const reaching = [...graph].flatMap(([file, imports]) =>
    file.startsWith("src/core/")
      ? imports.filter((target) => !target.startsWith("src/core/")).map((target) => `${file} → ${target}`)
      : []
  );
  expect(reaching).toEqual([]);
});

test("the rules see what they check: the four rooms exist, each with a public face", () => {
  for (const room of ["ingest", "admin", "delivery", "store"]) {
    const face = readFileSync(join(ROOT, `src/worker/${room}/index.ts`), "utf8");
    expect(face.startsWith("/**"), `${room}/index.ts opens with what the room is for`).toBe(true);
  }
});

test("the stored field names are spelled out in one module only (comments aside)", () => {
  const code = (file: string) =>
    readFileSync(join(ROOT, file), "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
  const spelled = [...graph.keys()].filter((file) =>
    file.startsWith("src/worker/") && file !== "src/worker/store/field-names.ts" &&
    /["'`](?:@|m:)["'`$]/.test(code(file))
  );
  expect(spelled).toEqual([]);
});
