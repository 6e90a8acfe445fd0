/**
 * Type test, checked by `tsc` in `npm run check` (never run): Userpilot's reserved properties are
 * typed in `UserInput` and `CompanyInput` with the values the contract sheet gives them, and any
 * other key stays a custom property. Each `@ts-expect-error` fails the check if the misuse below
 * it ever type-checks. (One declaration each: in one array literal, TypeScript's subtype
 * reduction could hide an element's error behind another element.)
 */
import type { CompanyInput, EventInput, MetadataInput, UserInput } from "../../mod.ts";

const custom: MetadataInput = { plan: "pro", seats: 3 };

export const withCustom: UserInput = { user_id: "a", metadata: custom }; // custom properties as before
export const reserved: UserInput = {
  user_id: "b",
  metadata: { name: "Ada", email: "ada@example.com", created_at: new Date(), plan: "pro" },
};
export const alias: UserInput = { user_id: "c", metadata: { signed_up_at: "2024-05-01", name: null } }; // null removes
// Accepted, but marked deprecated in editors (Userpilot sets it) and warned about at run time.
export const setByUserpilot: UserInput = { user_id: "h", metadata: { last_seen_at: new Date() } };
// @ts-expect-error name is text
export const numericName: UserInput = { user_id: "d", metadata: { name: 5 } };
// @ts-expect-error email is text
export const booleanEmail: UserInput = { user_id: "e", metadata: { email: true } };
// @ts-expect-error created_at is a Date or an ISO 8601 string
export const epochCreated: UserInput = { user_id: "f", metadata: { created_at: 1714521600 } };
// @ts-expect-error signed_up_at is created_at's alias: the same rule
export const booleanSignedUp: UserInput = { user_id: "g", metadata: { signed_up_at: false } };

export const company: CompanyInput = {
  company_id: "acme",
  metadata: { name: "Acme", created_at: "2021-03-04" },
};
// @ts-expect-error a company's name is text
export const numericCompanyName: CompanyInput = { company_id: "acme", metadata: { name: 1 } };
// @ts-expect-error a company's created_at is a Date or an ISO 8601 string
export const booleanCompanyCreated: CompanyInput = { company_id: "acme", metadata: { created_at: true } };

export const event: EventInput = {
  user_id: "a",
  event_name: "invoice_paid",
  metadata: { amount: 30, at: new Date() },
};
// @ts-expect-error an event has a name
export const unnamed: EventInput = { user_id: "a", metadata: {} };
