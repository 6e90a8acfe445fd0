/**
 * A local, faithful stand-in for Userpilot's bulk API, for development and tests.
 * @module
 */
export { createSandbox, SANDBOX_API_KEY, type SandboxOptions } from "./app.ts";
export { type Faults, FaultsSchema } from "./faults.ts";
