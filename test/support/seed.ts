/**
 * Seeds of tests that inject faults or generate inputs. Each such test takes its seed from
 * here and prints it, so a failure replays exactly: `TEST_SEED=<seed> npm run test:node`.
 */

/**
 * `override` (the run's `TEST_SEED`, when given) or else the test's own `fallback`, printed
 * with `name` and the way to replay it. Runtime-neutral: the caller reads the environment.
 *
 * @example
 * ```ts
 * const seed = chooseSeed("faults.test.ts", 21, process.env["TEST_SEED"]);
 * ```
 */
export function chooseSeed(name: string, fallback: number, override: string | undefined): number {
  const seed = override !== undefined && override.trim() !== "" ? Number(override) : fallback;
  if (!Number.isSafeInteger(seed)) throw new Error(`TEST_SEED must be a whole number, not ${override}`);
  console.log(`${name}: seed ${seed} (TEST_SEED=${seed} replays it)`);
  return seed;
}

/**
 * The seed of a test running in Node: `TEST_SEED` from the environment, else `fallback`
 * (a fixed number, or a fresh random one where each run should explore new cases).
 *
 * @example
 * ```ts
 * const seed = testSeed("http.test.ts", 11);
 * ```
 */
export function testSeed(name: string, fallback: number): number {
  const { process } = globalThis as { process?: { env: Record<string, string | undefined> } };
  return chooseSeed(name, fallback, process?.env["TEST_SEED"]);
}

/** A fresh seed, for tests that explore new cases on every run (fast-check properties). */
export function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 31);
}
