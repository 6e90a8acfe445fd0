/**
 * The local stack for benchmarks and the soak: `scripts/local-stack.ts` on free loopback ports,
 * with its state in a temporary directory that `stop()` removes.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  DEV_ADMIN_KEY,
  DEV_INGEST_KEY,
  DEV_SIGNING_SECRET,
  freePorts,
  type LocalStack,
  type LocalStackOptions,
  startLocalStack,
} from "../scripts/local-stack.ts";

export { DEV_ADMIN_KEY, DEV_INGEST_KEY, DEV_SIGNING_SECRET };

export interface BenchStack extends LocalStack {
  /** The Worker's DevTools inspector, when `inspect` was asked for. */
  readonly inspectorPort: number | undefined;
}

export type BenchStackOptions =
  & Omit<LocalStackOptions, "workerPort" | "sandboxPort" | "persistTo" | "inspectorPort">
  & {
    /** Open the Worker's DevTools inspector on a free loopback port (`inspectorPort`), for profiling. */
    inspect?: boolean;
  };

/** Start the sandbox and `wrangler dev` on free loopback ports, with state in a temporary directory. */
export async function startBenchStack(options: BenchStackOptions = {}): Promise<BenchStack> {
  const [sandboxPort, workerPort, inspectorPort] = (await freePorts(3)) as [number, number, number];
  const persist = mkdtempSync(join(tmpdir(), "userpilot-bench-"));
  const { inspect, ...rest } = options;
  const stack = await startLocalStack({
    ...rest,
    sandboxPort,
    workerPort,
    persistTo: persist,
    ...(inspect ? { inspectorPort } : {}),
  }).catch((error) => {
    rmSync(persist, { recursive: true, force: true });
    throw error;
  });
  return {
    ...stack,
    inspectorPort: inspect ? inspectorPort : undefined,
    async stop() {
      await stack.stop();
      rmSync(persist, { recursive: true, force: true });
    },
  };
}
