import { existsSync, readdirSync, readFileSync } from "node:fs";
import { posix } from "node:path";
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

test.each(["mod.ts", "src/sandbox/mod.ts", "src/hono/mod.ts", "src/postgres/mod.ts", "src/worker/index.ts"])(
  "the API reference (docs/core.md) names every export of %s",
  (entry) => {
    const reference = read("docs/core.md");
    const names = exportedNames(entry);
    expect(names.length).toBeGreaterThan(0);
    expect(names.filter((name) => !reference.includes(`\`${name}\``))).toEqual([]);
  },
);

test("the README shows the fresh-machine commands", () => {
  const readme = read("README.md");
  for (const command of ["npm ci", "npm start", "npm test"]) expect(readme).toContain(command);
});

/** Rows of the table under `heading` in a document, as their cells. */
function tableRows(heading: string, document = "docs/endpoint.md"): string[][] {
  const readme = read(document);
  const start = readme.indexOf(`\n${heading}\n`);
  expect(start, heading).toBeGreaterThan(-1);
  const rows: string[][] = [];
  let seenTable = false;
  for (const line of readme.slice(start + heading.length + 2).split("\n")) {
    if (line.startsWith("|")) {
      seenTable = true;
      const cells = line.split("|").slice(1, -1).map((cell) => cell.trim());
      if (!/^-+$/.test(cells[0]!)) rows.push(cells);
    } else if (seenTable) break;
  }
  return rows.slice(1); // the header
}

test("the endpoint's routes table and the OpenAPI document list the same routes", async () => {
  // Imported by a computed path: following it would type-check the Worker, which needs the
  // Workers types this project does not load (the worker project checks it).
  const openapi = "../scripts/openapi/document.ts";
  const { openApiDocument } = (await import(/* @vite-ignore */ openapi)) as {
    openApiDocument: () => Record<string, unknown>;
  };
  const documented = tableRows("## Routes").map((cells) => cells[0]!.replace(/`/g, "").replace(/\?.*$/, ""));
  const paths = openApiDocument()["paths"] as Record<string, Record<string, unknown>>;
  const described = Object.entries(paths).flatMap(([path, methods]) =>
    Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`)
  );
  expect(documented.sort()).toEqual([...described, "GET /openapi.json"].sort());
});

test("the endpoint's operator's page table lists exactly the page routes, none of which is in the OpenAPI document", async () => {
  const { ADMIN_PAGE_ENDPOINTS } = await import("../src/worker/admin/page-routes.ts");
  const documented = tableRows("## Operator's page").map((cells) => cells[0]!.replace(/`/g, ""));
  expect(documented.sort()).toEqual([...ADMIN_PAGE_ENDPOINTS].sort());
  const openapi = "../scripts/openapi/document.ts"; // by a computed path, as above
  const { openApiDocument } = (await import(/* @vite-ignore */ openapi)) as {
    openApiDocument: () => { paths: Record<string, unknown> };
  };
  expect(Object.keys(openApiDocument().paths).filter((path) => path.startsWith("/admin"))).toEqual([]);
});

test("the endpoint's settings table names exactly the settings and bindings the Worker reads", () => {
  const documented = tableRows("## Settings").flatMap((cells) =>
    [...cells[0]!.matchAll(/`([A-Z_]+)`/g)].map((match) => match[1]!)
  );
  const env = read("src/worker/env.ts");
  const declared = [...env.matchAll(/^\s+([A-Z_]+)\??:/gm)].map((match) => match[1]!)
    // Bindings wrangler.toml declares for the Worker's own use, not settings an operator sets.
    .filter((name) => !["INGEST_QUEUE", "DELIVERY", "REPLAY_GUARD"].includes(name));
  expect(documented.sort()).toEqual(declared.sort());
});

const DOCUMENTS = [
  "README.md",
  "BENCHMARKS.md",
  ...readdirSync(new URL("../docs/", import.meta.url)).filter((name) => name.endsWith(".md")).map((name) =>
    `docs/${name}`
  ),
];

/** A document's headings as GitHub anchors (outside code blocks). */
function anchorsOf(document: string): Set<string> {
  const anchors = new Set<string>();
  let fenced = false;
  for (const line of read(document).split("\n")) {
    if (line.startsWith("```")) fenced = !fenced;
    const heading = !fenced && /^#{1,6} (.*)$/.exec(line);
    if (heading) {
      anchors.add(heading[1]!.trim().toLowerCase().replace(/[^\w\- ]/gu, "").replaceAll(" ", "-"));
    }
  }
  return anchors;
}

test.each(DOCUMENTS)(
  "every link in %s leads to a file of the repository, and to a heading in it",
  (document) => {
    const broken: string[] = [];
    for (const [, target] of read(document).matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue; // https:, mailto:
      const [path, anchor] = target!.split("#") as [string, string | undefined];
      const file = path === "" ? document : posix.join(posix.dirname(document), path);
      if (!existsSync(new URL(`../${file}`, import.meta.url))) {
        broken.push(target!);
      } else if (anchor !== undefined && file.endsWith(".md") && !anchorsOf(file).has(anchor)) {
        broken.push(target!);
      }
    }
    expect(broken).toEqual([]);
  },
);

test("the commands table of docs/development.md lists every npm script, and the docs run no other", () => {
  const scripts = Object.keys(
    (JSON.parse(read("package.json")) as { scripts: Record<string, string> }).scripts,
  ).filter((name) => name !== "prepack"); // npm's own hook, run by `npm pack`
  const listed = tableRows("## Commands", "docs/development.md").map((cells) =>
    /^`npm (?:run )?([\w:-]+)/.exec(cells[0]!)?.[1]
  );
  expect(listed.sort()).toEqual([...scripts].sort());
  for (const document of DOCUMENTS) {
    for (const [, name] of read(document).matchAll(/\bnpm run ([\w:-]+)/g)) {
      expect(scripts, `${document}: npm run ${name}`).toContain(name);
    }
  }
});

test("the OpenAPI document the Worker serves is what the routes' schemas give (`npm run openapi` writes it)", async () => {
  // Imported by computed paths, as above.
  const generator = "../scripts/openapi/document.ts";
  const served = "../src/worker/ingest/openapi-document.ts";
  const { openApiDocument } = (await import(/* @vite-ignore */ generator)) as {
    openApiDocument: () => Record<string, unknown>;
  };
  const { OPENAPI_DOCUMENT } = (await import(/* @vite-ignore */ served)) as {
    OPENAPI_DOCUMENT: Record<string, unknown>;
  };
  expect(OPENAPI_DOCUMENT).toEqual(openApiDocument());
});
