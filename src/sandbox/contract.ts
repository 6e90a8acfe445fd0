/**
 * Row rules as the contract sheet states Userpilot applies them, written independently of the
 * core's schemas: the sandbox must not share the client's mistakes. Userpilot's protective limits
 * are undocumented, so the sandbox applies none beyond the sheet's.
 */

/** A validated row as the sandbox stores it. */
export interface ContractRow {
  readonly id: string;
  readonly company_id?: string | undefined;
  readonly metadata: ReadonlyArray<readonly [string, string | number | boolean | null]>;
}

/** Validation outcome: rows, or the first problems found (at most 20). */
export type ContractResult = { ok: true; rows: ContractRow[] } | { ok: false; problems: string[] };

const MAX_PROBLEMS = 20;

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function isPrimitive(value: unknown): value is string | number | boolean | null {
  return (
    value === null ||
    typeof value === "string" ||
    typeof value === "boolean" ||
    (typeof value === "number" && Number.isFinite(value))
  );
}

/** Check one row of a users (`idKey = "user_id"`) or companies (`"company_id"`) body. */
export function checkRow(row: unknown, idKey: "user_id" | "company_id", where: string): ContractRow | string {
  if (!isObject(row)) return `${where} must be an object`;
  const id = row[idKey];
  if (typeof id !== "string" || id.length === 0) {
    return `${where}.${idKey} is required and must be a non-empty string`;
  }
  const company = idKey === "user_id" ? row["company_id"] : undefined;
  if (company !== undefined && typeof company !== "string") return `${where}.company_id must be a string`;
  const metadata = row["metadata"];
  if (metadata !== undefined && !isObject(metadata)) return `${where}.metadata must be an object`;
  const entries = Object.entries(metadata ?? {});
  for (const [key, value] of entries) {
    if (!isPrimitive(value)) return `${where}.metadata.${key} must be a string, number, boolean or null`;
  }
  return { id, company_id: company, metadata: entries as ContractRow["metadata"] };
}

/** Check a list of rows (a JSON body's array, or the parsed lines of an NDJSON upload). */
export function checkRows(list: readonly unknown[], kind: "users" | "companies"): ContractResult {
  if (list.length === 0) return { ok: false, problems: [`${kind} must not be empty`] };
  const idKey = kind === "users" ? "user_id" : "company_id";
  const rows: ContractRow[] = [];
  const problems: string[] = [];
  for (const [index, item] of list.entries()) {
    const checked = checkRow(item, idKey, `${kind}[${index}]`);
    if (typeof checked === "string") {
      problems.push(checked);
      if (problems.length >= MAX_PROBLEMS) break;
    } else rows.push(checked);
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, rows };
}
