/**
 * What a caller may pass for one row, as TypeScript types: the input side of `UserSchema` and
 * `CompanySchema` (whose outputs are `User` and `Company`). An unknown top-level field is a
 * compile error (properties belong under `metadata`), and still a clear issue at run time, where
 * the schemas check every row whatever its type said.
 */

/** One property value a caller may pass: `null` removes the property at Userpilot; a `Date` is sent as ISO 8601. */
export type MetadataInputValue = string | number | boolean | null | Date;

/** Flat profile properties as a caller may pass them. */
export type MetadataInput = { [key: string]: MetadataInputValue };

/**
 * A user row as a caller may pass it to `bulkIdentifyUsers`, `identify` or the Hono middleware.
 *
 * @example
 * ```ts
 * const user: UserInput = { user_id: "user_123", company_id: "acme", metadata: { plan: "pro", trial_ends: new Date() } };
 * ```
 */
export interface UserInput {
  user_id: string;
  /** Moves the user to this company. */
  company_id?: string | undefined;
  metadata?: MetadataInput | undefined;
}

/**
 * A company row as a caller may pass it to `bulkIdentifyCompanies` or `identifyCompany`.
 *
 * @example
 * ```ts
 * const company: CompanyInput = { company_id: "acme", metadata: { plan: "enterprise", churned_at: null } };
 * ```
 */
export interface CompanyInput {
  company_id: string;
  metadata?: MetadataInput | undefined;
}
