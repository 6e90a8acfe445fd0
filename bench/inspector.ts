/**
 * CPU profiles of the Worker under `wrangler dev`, through its DevTools inspector (the Chrome
 * DevTools Protocol on a loopback WebSocket): how the benchmarks find where the Worker and its
 * Durable Objects spend their time. Uses the `ws` package that wrangler and miniflare already
 * install (Node's own WebSocket fails the inspector's handshake); it is loaded only when a
 * profile is asked for.
 */

/** The little of `ws` this file uses. */
interface InspectorSocket {
  on(event: "open" | "error" | "message", listener: (data: unknown) => void): void;
  send(text: string): void;
  close(): void;
}

/** The parts of a V8 CPU profile this file reads (the whole is saved as `.cpuprofile`). */
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

/** Start sampling the Worker behind the inspector on `port`; `stop()` returns the profile. */
export async function profileWorker(port: number): Promise<{ stop(): Promise<CpuProfile> }> {
  // A computed specifier: `ws` is wrangler's dependency, not declared (nor typed) here.
  const specifier = "ws";
  const { WebSocket: Socket } = (await import(specifier)) as {
    WebSocket: new (url: string) => InspectorSocket;
  };
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json`)).json()) as {
    webSocketDebuggerUrl: string;
  }[];
  const socket = new Socket(targets[0]!.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    socket.on("open", resolve);
    socket.on("error", reject);
  });
  let id = 0;
  const pending = new Map<number, (result: unknown) => void>();
  socket.on("message", (data) => {
    const message = JSON.parse(String(data)) as { id?: number; result?: unknown };
    if (message.id !== undefined) pending.get(message.id)?.(message.result);
  });
  const send = (method: string, params: object = {}): Promise<unknown> =>
    new Promise((resolve) => {
      pending.set(++id, resolve);
      socket.send(JSON.stringify({ id, method, params }));
    });
  await send("Profiler.enable");
  await send("Profiler.setSamplingInterval", { interval: 200 });
  await send("Profiler.start");
  return {
    async stop() {
      const { profile } = (await send("Profiler.stop")) as { profile: CpuProfile };
      socket.close();
      return profile;
    },
  };
}

/** Self time per function, largest first: `[percent, "name file:line"]`. */
export function topFunctions(profile: CpuProfile, count: number): [number, string][] {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((sample, i) => {
    const node = byId.get(sample)!;
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url.split("/").slice(-2).join("/");
    const key = `${functionName || "(anonymous)"} ${file}:${lineNumber + 1}`;
    const delta = profile.timeDeltas[i] ?? 0;
    self.set(key, (self.get(key) ?? 0) + delta);
    total += delta;
  });
  return [...self]
    .filter(([key]) => !key.startsWith("(idle)"))
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([key, time]) => [(time / total) * 100, key]);
}
