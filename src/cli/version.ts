/** The package's version, as `userpilot-bulk --version` prints it: the core's one constant. */
export { VERSION } from "../core/version.ts";
