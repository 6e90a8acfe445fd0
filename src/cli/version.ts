/**
 * The package's version, as `userpilot-bulk --version` prints it. A constant rather than a read
 * of package.json, whose place differs between the source tree and the built `dist/`, and which
 * Deno and Bun would each need their own permission or loader to read; `test/cli/conventions.test.ts`
 * keeps it equal to package.json's `version`.
 */
export const VERSION: string = "0.1.0";
