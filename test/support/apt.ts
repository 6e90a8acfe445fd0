/**
 * Debian packages the tests need, installed when missing: CI starts from a clean clone that
 * reaches only the npm registry and Debian's packages, and runs as root.
 */
import { execFileSync } from "node:child_process";
import process from "node:process";

/** `apt-get install -y <name>` (after `apt-get update`), or an error saying why it could not. */
export function aptGetInstall(name: string): void {
  console.log(`${name} is missing: apt-get install -y ${name}`);
  try {
    execFileSync("bash", ["-c", `apt-get update && apt-get install -y ${name}`], {
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
      stdio: ["ignore", "ignore", "pipe"],
      timeout: 540_000,
    });
  } catch (error) {
    throw new Error(
      `could not install Debian's ${name} (needs root and Debian's package mirror): ${
        (error as Error).message
      }`,
    );
  }
}
