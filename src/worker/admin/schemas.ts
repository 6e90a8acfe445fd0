/** The operator's routes' inputs: which rows an action takes, whose fingerprints to forget, a list page. @module */
import * as v from "valibot";
import { DeleteIdsSchema } from "../../core/event-schema.ts";

/** Which rows set aside an action takes: `{"all": true}`, or `{"seqs": [...]}` from the list. */
export const SetAsideSelectionSchema: v.GenericSchema<unknown, { all: true } | { seqs: number[] }> = v.union([
  v.strictObject({ all: v.literal(true) }),
  v.strictObject({
    seqs: v.pipe(
      v.array(v.pipe(v.number(), v.integer(), v.minValue(1))),
      v.minLength(1),
      v.maxLength(10_000),
    ),
  }),
]);

/** Whose fingerprints to forget: `{"all": true}`, or `{"kind": "users", "ids": [...]}`. */
export const ForgetSelectionSchema: v.GenericSchema<
  unknown,
  { all: true } | { kind: "users" | "companies"; ids: string[] }
> = v.union([
  v.strictObject({ all: v.literal(true) }),
  v.strictObject({ kind: v.picklist(["users", "companies"]), ids: DeleteIdsSchema }), // a gateway DELETE's ids
]);

/** The list's query: a page of `limit` entries after the `after` cursor, of one kind or all. */
export const SetAsideQuerySchema: v.GenericSchema<
  unknown,
  { kind?: "users" | "companies" | "events" | "deletions" | undefined; after: number; limit: number }
> = v.object({
  kind: v.optional(v.picklist(["users", "companies", "events", "deletions"])),
  after: v.optional(v.pipe(v.string(), v.toNumber(), v.integer(), v.minValue(0)), "0"),
  limit: v.optional(v.pipe(v.string(), v.toNumber(), v.integer(), v.minValue(1), v.maxValue(1000)), "100"),
});
