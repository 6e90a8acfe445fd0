/** An environment variable, or `undefined` where the runtime may not read it (Deno without `--allow-env` for it). */
function readable(env: Readonly<Record<string, string | undefined>>, name: string): string | undefined {
  try {
    return env[name];
  } catch {
    return undefined;
  }
}

/**
 * Whether the progress line may be redrawn in place with escape codes (`\r`, erase line): only
 * on a terminal, and not when `TERM=dumb` (a terminal without them, such as an editor's shell)
 * or `NO_COLOR` is set to anything but the empty string (https://no-color.org), which asks
 * command-line tools for plain output. Otherwise progress is written as occasional plain lines.
 *
 * @example
 * ```ts
 * escapesAllowed(process.stderr.isTTY === true, process.env); // false under TERM=dumb
 * ```
 */
export function escapesAllowed(isTTY: boolean, env: Readonly<Record<string, string | undefined>>): boolean {
  if (!isTTY) return false;
  if ((readable(env, "TERM") ?? "").toLowerCase() === "dumb") return false;
  return (readable(env, "NO_COLOR") ?? "") === "";
}
