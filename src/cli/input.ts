import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import { InputError } from "./errors.ts";

/** What identifies an input file between runs (the resume fingerprint uses it). */
export interface InputFile {
  /** Absolute path. */
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
}

/** An input opened for streaming: its bytes in order, and how far reading has got. */
export interface InputSource {
  readonly chunks: AsyncIterable<Uint8Array>;
  /** The file, or `undefined` for standard input. */
  readonly file: InputFile | undefined;
  /** Bytes handed out so far (for progress against `file.size`). */
  bytesRead(): number;
  /** Stop reading early (after an error or Ctrl-C). */
  close(): void;
}

function reason(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "ENOENT" ? "no such file" : typeof code === "string" ? code : "read error";
}

async function* counted(
  chunks: AsyncIterable<Uint8Array>,
  name: string,
  onBytes: (bytes: number) => void,
): AsyncGenerator<Uint8Array> {
  try {
    for await (const chunk of chunks) {
      onBytes(chunk.byteLength);
      yield chunk;
    }
  } catch (error) {
    throw new InputError(`cannot read ${name}: ${reason(error)}`);
  }
}

/** A `.gz` file: read through gzip, whatever the format before `.gz` (`users.csv.gz`). */
export function isGzipPath(input: string): boolean {
  return /\.gz$/i.test(input);
}

/**
 * Bytes of a gzip stream, decompressed as they arrive, with the web's `DecompressionStream`
 * (Node, Deno and Bun alike; no `node:zlib`). A read error of the file stays itself; data that is
 * not gzip, or stops short, is an `InputError` naming the file.
 */
async function* gunzip(chunks: AsyncIterable<Uint8Array>, name: string): AsyncGenerator<Uint8Array> {
  const source = chunks[Symbol.asyncIterator]();
  const compressed = new ReadableStream<BufferSource>({
    async pull(controller) {
      const next = await source.next();
      if (next.done) controller.close();
      else controller.enqueue(next.value as Uint8Array<ArrayBuffer>); // a file's buffers are never shared
    },
    async cancel() {
      await source.return?.();
    },
  });
  const reader = compressed.pipeThrough(new DecompressionStream("gzip")).getReader();
  try {
    for (;;) {
      let read;
      try {
        read = await reader.read();
      } catch (error) {
        throw error instanceof InputError
          ? error
          : new InputError(`cannot read ${name}: not valid gzip data`);
      }
      if (read.done) return;
      yield read.value;
    }
  } finally {
    // Stopped early (an error, Ctrl-C): stop the file too.
    reader.cancel().catch(() => {});
  }
}

/**
 * Open a file (or `-` for standard input, which is touched only then) for streaming; a `.gz`
 * file is decompressed as it is read (progress counts its compressed bytes, against its size). A
 * file is checked up front, so a wrong path fails before anything is sent.
 */
export async function openInput(
  input: string,
  stdin: () => AsyncIterable<Uint8Array>,
): Promise<InputSource> {
  let bytes = 0;
  const onBytes = (count: number): void => {
    bytes += count;
  };
  if (input === "-") {
    return {
      chunks: counted(stdin(), "standard input", onBytes),
      file: undefined,
      bytesRead: () => bytes,
      close: () => {},
    };
  }
  const path = resolve(input);
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    throw new InputError(`cannot read ${input}: ${reason(error)}`);
  }
  if (!info.isFile()) throw new InputError(`cannot read ${input}: not a file`);
  const stream = createReadStream(path);
  const raw = counted(stream, input, onBytes);
  return {
    chunks: isGzipPath(input) ? gunzip(raw, input) : raw,
    file: { path, size: info.size, mtimeMs: info.mtimeMs },
    bytesRead: () => bytes,
    close: () => stream.destroy(),
  };
}

/**
 * Decode UTF-8 bytes into text pieces, a character split across chunks included. Invalid UTF-8
 * stops the run: guessing would silently change values.
 */
export async function* decodeUtf8(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let offset = 0;
  for await (const chunk of chunks) {
    yield decode(decoder, chunk, offset, true);
    offset += chunk.byteLength;
  }
  yield decode(decoder, new Uint8Array(0), offset, false);
}

function decode(decoder: TextDecoder, chunk: Uint8Array, offset: number, stream: boolean): string {
  try {
    return decoder.decode(chunk, { stream });
  } catch {
    throw new InputError(`the input is not valid UTF-8 (in the bytes after offset ${offset})`);
  }
}
