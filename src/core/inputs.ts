/**
 * What a caller may pass for one row, as TypeScript types: the input side of `UserSchema` and
 * `CompanySchema` (whose outputs are `User` and `Company`). An unknown top-level field is a
 * compile error (properties belong under `metadata`), and still a clear issue at run time, where
 * the schemas check every row whatever its type said.
 *
 * Userpilot's reserved properties are named, with the value the contract sheet gives them
 * (`docs/userpilot-api.md`, "Profile semantics"), so an editor offers them and a wrong type is a
 * compile error; any other key is a custom property.
 */

/** One property value a caller may pass: `null` removes the property at Userpilot; a `Date` is sent as ISO 8601. */
export type MetadataInputValue = string | number | boolean | null | Date;

/** Flat profile properties as a caller may pass them. */
export type MetadataInput = { [key: string]: MetadataInputValue };

/** A date property: a `Date`, or an ISO 8601 string (`2024-05-01`, `2024-05-01T13:45:00Z`); `null` removes it. */
export type DateInput = Date | string | null;

/**
 * A user's properties: Userpilot's reserved ones, typed, and any custom ones. (An intersection,
 * not an interface: an index signature would have to admit `undefined` for the optional names.)
 *
 * @example
 * ```ts
 * const metadata: UserMetadataInput = { name: "Ada", email: "ada@example.com", created_at: new Date(), plan: "pro" };
 * ```
 */
export type UserMetadataInput = MetadataInput & {
  /** Reserved: the user's display name. */
  name?: string | null;
  /** Reserved: the user's email address. */
  email?: string | null;
  /** Reserved: when the user signed up (Userpilot's "Signed up"). */
  created_at?: DateInput;
  /** Reserved: Userpilot's alias of `created_at`. */
  signed_up_at?: DateInput;
  /**
   * @deprecated Userpilot sets this itself (the first time it saw the user). A value sent is
   * passed on, but Userpilot may keep its own; the clients report a warning (`onWarning`).
   */
  first_seen_at?: MetadataInputValue;
  /**
   * @deprecated Userpilot sets this itself (the user's latest visit). A value sent is passed on,
   * but Userpilot may keep its own; the clients report a warning (`onWarning`). For a time of
   * your own, use a property of your own (`last_login_at`).
   */
  last_seen_at?: MetadataInputValue;
};

/**
 * A company's properties: Userpilot's reserved ones, typed, and any custom ones.
 *
 * @example
 * ```ts
 * const metadata: CompanyMetadataInput = { name: "Acme", created_at: "2021-03-04", seats: 40 };
 * ```
 */
export type CompanyMetadataInput = MetadataInput & {
  /** Reserved: the company's display name. */
  name?: string | null;
  /** Reserved: when the company was created (signed up). */
  created_at?: DateInput;
};

/**
 * A user row as a caller may pass it to `bulkIdentifyUsers`, `identify` or the Hono middleware.
 *
 * @example
 * ```ts
 * const user: UserInput = { user_id: "user_123", company_id: "acme", metadata: { email: "ada@example.com", plan: "pro" } };
 * ```
 */
export interface UserInput {
  user_id: string;
  /** Moves the user to this company. */
  company_id?: string | undefined;
  metadata?: UserMetadataInput | undefined;
}

/**
 * A company row as a caller may pass it to `bulkIdentifyCompanies` or `identifyCompany`.
 *
 * @example
 * ```ts
 * const company: CompanyInput = { company_id: "acme", metadata: { name: "Acme", churned_at: null } };
 * ```
 */
export interface CompanyInput {
  company_id: string;
  metadata?: CompanyMetadataInput | undefined;
}

/**
 * An event as a caller may pass it to `track` (Userpilot's `POST /v1/track`).
 *
 * @example
 * ```ts
 * const event: EventInput = { user_id: "user_123", event_name: "invoice_paid", metadata: { amount: 30 } };
 * ```
 */
export interface EventInput {
  user_id: string;
  event_name: string;
  metadata?: MetadataInput | undefined;
}
