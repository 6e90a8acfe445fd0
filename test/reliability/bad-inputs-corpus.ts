/**
 * The bad-input corpus (test/fixtures/bad-inputs/cases.json) as request bodies and as core
 * inputs, shared by the core's test (test/reliability/bad-inputs.test.ts, Node) and the endpoint's
 * (test/worker/bad-inputs.test.ts, workerd). Web globals only, so it runs in both.
 */
import manifest from "../fixtures/bad-inputs/cases.json" with { type: "json" };

export type Route = "/v1/identify" | "/v1/users/bulk_identify" | "/v1/companies/bulk_identify";

/** Big inputs are built at test time rather than committed. */
export interface Generated {
  readonly kind: "rows" | "padded-body" | "wide-row" | "deep-metadata" | "deep-array" | "many-keys";
  readonly count: number;
  /** Send the body as a stream without Content-Length. */
  readonly stream?: boolean;
}

/** Where an issue is reported: the row's index (absent for the body itself) and the path in it. */
export interface IssueAt {
  readonly index?: number;
  readonly path: string;
}

export interface BadInputCase {
  readonly id: string;
  /** What the input is, and why the outcome is the right one. */
  readonly why: string;
  readonly route: Route;
  /** The body is `JSON.stringify` of this, after expanding `{{repeat c n}}` strings. */
  readonly json?: unknown;
  /** The body is this text, as UTF-8. */
  readonly text?: string;
  /** The body is these bytes. */
  readonly base64?: string;
  readonly generate?: Generated;
  /** Default `application/json`; `null` sends no Content-Type at all. */
  readonly contentType?: string | null;
  readonly endpoint: {
    readonly status: number;
    readonly error?: string;
    readonly issues?: readonly IssueAt[];
    /** For accepted cases: exactly the rows queued. */
    readonly queued?: readonly unknown[];
  };
  readonly core:
    | { readonly skip: string }
    | {
      readonly rejected: readonly { index: number; path: string }[];
      /** The rows planned, in order (when given). */
      readonly rows?: readonly unknown[];
      /** How many bodies are planned (when given). */
      readonly chunks?: number;
      readonly options?: { readonly maxBytes?: number };
    };
}

export const BAD_INPUT_CASES: readonly BadInputCase[] = manifest.cases as unknown as BadInputCase[];

const REPEAT = /^\{\{repeat (.) (\d+)\}\}$/;
const CODE_UNIT = /\{\{u ([0-9a-f]{4})\}\}/g;

/**
 * Tokens the manifest uses where JSON files cannot hold the text itself: a whole string
 * `{{repeat c n}}` is `c` repeated `n` times; `{{u d800}}` anywhere is that UTF-16 code unit
 * (lone surrogates: valid in JSON, refused by some JSON file loaders).
 */
export function expandText(text: string): string {
  const match = REPEAT.exec(text);
  if (match) return match[1]!.repeat(Number(match[2]));
  return text.replace(CODE_UNIT, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}

/** {@link expandText} applied to every string of a value, keys included. */
export function expand(value: unknown): unknown {
  if (typeof value === "string") return expandText(value);
  if (Array.isArray(value)) return value.map(expand);
  if (value !== null && typeof value === "object") {
    // defineProperty, not assignment: a "__proto__" key must stay data.
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      Object.defineProperty(out, expandText(key), {
        value: expand(item),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}

function generatedText(generate: Generated): string {
  const n = generate.count;
  switch (generate.kind) {
    case "rows":
      return JSON.stringify({ users: Array.from({ length: n }, (_, i) => ({ user_id: `user_${i}` })) });
    case "padded-body": {
      const frame = '{"users":[{"user_id":"user_1","metadata":{"pad":""}}]}';
      return frame.replace('"pad":""', `"pad":"${"x".repeat(n - frame.length)}"`);
    }
    case "wide-row": {
      const metadata = Object.fromEntries(
        Array.from({ length: n }, (_, i) => [`field_${i}`, "w".repeat(8000)]),
      );
      return JSON.stringify({ users: [{ user_id: "user_1", metadata }] });
    }
    case "deep-metadata":
      return `{"user_id":"user_1","metadata":{"a":${'{"a":'.repeat(n - 1)}1${"}".repeat(n - 1)}}}`;
    case "deep-array":
      return `${"[".repeat(n)}${"]".repeat(n)}`;
    case "many-keys": {
      const metadata = Object.fromEntries(Array.from({ length: n }, (_, i) => [`key_${i}`, i]));
      return JSON.stringify({ user_id: "user_1", metadata });
    }
  }
}

const encoder = new TextEncoder();

/** The request body's bytes. */
export function requestBody(c: BadInputCase): Uint8Array<ArrayBuffer> {
  if (c.base64 !== undefined) return Uint8Array.from(atob(c.base64), (ch) => ch.charCodeAt(0));
  const text = c.text ??
    (c.generate !== undefined ? generatedText(c.generate) : JSON.stringify(expand(c.json)));
  return new Uint8Array(encoder.encode(text)); // a copy typed as backed by a plain ArrayBuffer
}

const kindOf = (route: Route) => (route === "/v1/companies/bulk_identify" ? "companies" : "users");

/**
 * What a caller of the core would hold for the same input: the body decoded and parsed the way
 * the endpoint does (strict UTF-8, BOM stripped, `JSON.parse`), then the rows: a bulk body's
 * array, or the identify body as one row. A reason instead when there are no rows to pass.
 */
export function coreInput(
  c: BadInputCase,
): { kind: "users" | "companies"; rows: unknown[] } | { skip: string } {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(requestBody(c)));
  } catch {
    return { skip: "not UTF-8 JSON" };
  }
  const kind = kindOf(c.route);
  if (c.route === "/v1/identify") {
    if (value !== null && typeof value === "object" && "company" in value) return { skip: "company shape" };
    return { kind, rows: [value] };
  }
  const rows = value !== null && typeof value === "object"
    ? (value as Record<string, unknown>)[kind]
    : undefined;
  return Array.isArray(rows) ? { kind, rows } : { skip: "no row list" };
}

/** The quoted strings of a JSON-like text that are not keys (not followed by `:`), decoded. */
function quotedValues(text: string): string[] {
  const found: string[] = [];
  for (let at = text.indexOf('"'); at !== -1 && found.length < 1000; at = text.indexOf('"', at + 1)) {
    let end = at + 1;
    while (end < text.length && text[end] !== '"') end += text[end] === "\\" ? 2 : 1;
    if (end >= text.length) break;
    const raw = text.slice(at + 1, end);
    if (!/^\s*:/.test(text.slice(end + 1, end + 20))) {
      try {
        found.push(JSON.parse(`"${raw}"`) as string);
      } catch {
        found.push(raw);
      }
    }
    at = end;
  }
  return found;
}

/**
 * Strings an answer must never contain: every string value of the input of 6 characters or more
 * (ids and property values, not keys), whether or not the body parses, and every key longer than
 * the 64 characters a path shows.
 */
export function secretsOf(c: BadInputCase): string[] {
  const values = new Set<string>();
  const keys = new Set<string>();
  const walk = (value: unknown, depth: number): void => {
    if (depth > 50 || values.size > 1000) return;
    if (typeof value === "string") values.add(value);
    else if (Array.isArray(value)) { for (const item of value) walk(item, depth + 1); }
    else if (value !== null && typeof value === "object") {
      for (const [key, item] of Object.entries(value)) {
        keys.add(key);
        walk(item, depth + 1);
      }
    }
  };
  // Generated rows and nesting hold no values worth checking, and are large to scan.
  if (c.generate === undefined || c.generate.kind === "wide-row" || c.generate.kind === "padded-body") {
    const text = new TextDecoder().decode(requestBody(c));
    try {
      walk(JSON.parse(text), 0);
    } catch {
      // Not JSON: its quoted strings stand in for its values.
    }
    for (const value of quotedValues(text)) values.add(value);
  }
  return [
    ...[...values].filter((value) => value.length >= 6 && !keys.has(value)),
    ...[...keys].filter((key) => key.length > 64),
  ];
}

/** True when `answer` contains `secret` as is or as JSON would escape it. */
export function echoes(answer: string, secret: string): boolean {
  return answer.includes(secret) || answer.includes(JSON.stringify(secret).slice(1, -1));
}
