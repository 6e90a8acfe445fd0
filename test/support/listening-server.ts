/**
 * A server process started by a test: it prints `{"listening": port}` once ready, then JSON
 * lines; the test reads the port, its lines, its stderr, and how it exited.
 */
import { spawn, type SpawnOptions } from "node:child_process";

export interface ListeningServer {
  readonly port: number;
  /** Its stdout, line by line. */
  readonly lines: readonly string[];
  /** Its stderr so far. */
  stderr(): string;
  /** Sends the signal (SIGTERM by default). */
  kill(signal?: NodeJS.Signals): void;
  /** Its exit code. */
  readonly exited: Promise<number | null>;
}

/** Start `command` and wait until it says where it listens; rejects if it exits first. */
export async function startListeningServer(
  command: string,
  args: readonly string[],
  options: Pick<SpawnOptions, "cwd" | "env">,
): Promise<ListeningServer> {
  const server = spawn(command, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  let errors = "";
  server.stderr!.on("data", (chunk: Buffer) => (errors += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => server.once("exit", resolve));
  const port = await new Promise<number>((resolve, reject) => {
    server.stdout!.on("data", (chunk: Buffer) => {
      lines.push(...chunk.toString().trim().split("\n"));
      const listening = lines.map((line) => JSON.parse(line) as { listening?: number }).find((l) =>
        l.listening
      );
      if (listening?.listening) resolve(listening.listening);
    });
    server.once("exit", () => reject(new Error(`${command} exited: ${errors}`)));
  });
  return { port, lines, stderr: () => errors, kill: (signal = "SIGTERM") => server.kill(signal), exited };
}
