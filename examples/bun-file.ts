/// <reference types="bun" />
/**
 * A Bun script: bulk-identify users from an NDJSON file read line by line, streaming, so a file of
 * any size goes through in flat memory (the core reads a window while Userpilot works on the last).
 *   USERPILOT_API_KEY=… bun examples/bun-file.ts users.ndjson
 * (In your project: import { UserpilotClient } from "userpilot-bulk".)
 */
import { type UserInput, UserpilotClient } from "../mod.ts";

const path = Bun.argv[2];
if (path === undefined) throw new Error("usage: bun examples/bun-file.ts <users.ndjson>");

/** The file's rows, parsed line by line as its bytes arrive; a line that is not JSON is skipped, with a warning. */
async function* rows(file: string): AsyncGenerator<UserInput> {
  let rest = "";
  let line = 0;
  const parse = (text: string): UserInput | undefined => {
    line++;
    if (text.trim() === "") return undefined;
    try {
      return JSON.parse(text) as UserInput; // checked by the core at run time, like any row
    } catch {
      console.error(`line ${line} is not JSON; skipped`);
      return undefined;
    }
  };
  const reader = Bun.file(file).stream().pipeThrough(new TextDecoderStream()).getReader();
  for (let read = await reader.read(); !read.done; read = await reader.read()) {
    const lines = (rest + read.value).split("\n");
    rest = lines.pop() ?? "";
    for (const row of lines.map(parse)) if (row !== undefined) yield row;
  }
  const last = parse(rest);
  if (last !== undefined) yield last;
}

const client = UserpilotClient.fromEnv(Bun.env, {
  pollIntervalMs: Number(Bun.env["POLL_INTERVAL_MS"] ?? 5000),
});
const { jobs, rejected, issueCount } = await client.bulkIdentifyUsers(rows(path));
// A rejected row's `index` counts the rows passed on (JSON lines), from 0.
console.log(JSON.stringify({ jobs: jobs.length, issueCount, rejected }));
