import { NetworkError, TimeoutError, type UserpilotError } from "./errors.ts";
import { backoffDelay, isRetryableStatus, parseRetryAfter, type RetryPolicy, sleep } from "./retry.ts";

/** The `fetch` the clients call: the global one, or any function with its shape. */
export type FetchFunction = (request: Request) => Promise<Response>;

/** How requests go out: which fetch, how long one attempt may take, and the retry policy. */
export interface Transport {
  readonly fetch: FetchFunction;
  readonly timeoutMs: number;
  readonly retry: RetryPolicy;
  readonly random: () => number;
}

/** An HTTP answer with its body already read (reading is part of the attempt). */
export interface Answer {
  readonly response: Response;
  readonly text: string;
}

/** What one request needs: a fresh `Request` per attempt (so a signature can be renewed). */
export interface Exchange {
  readonly method: string;
  readonly url: string;
  readonly request: (signal: AbortSignal) => Request | Promise<Request>;
  /** The error a retryable status becomes, should retries run out. */
  readonly failure: (answer: Answer, retryAfterMs: number | undefined) => UserpilotError;
  readonly signal?: AbortSignal | undefined;
  /** Told before each wait: which retry, how long, and why. */
  readonly onRetry?: ((attempt: number, delayMs: number, reason: string) => void) | undefined;
}

const noop = (): void => {};

/**
 * One request under the retry policy (see `retry.ts`): network errors, timeouts, 408, 429 and
 * 5xx are retried; any other answer is returned for the caller to judge.
 */
export async function send(transport: Transport, exchange: Exchange): Promise<Answer> {
  const { signal } = exchange;
  for (let attempt = 1;; attempt++) {
    signal?.throwIfAborted();
    let failure: UserpilotError;
    let retryAfterMs: number | undefined;
    try {
      const answer = await attemptOnce(transport, exchange);
      if (!isRetryableStatus(answer.response.status)) return answer;
      retryAfterMs = parseRetryAfter(answer.response.headers.get("Retry-After"), Date.now());
      failure = exchange.failure(answer, retryAfterMs);
    } catch (error) {
      if (signal?.aborted || !(error instanceof TimeoutError || error instanceof NetworkError)) throw error;
      failure = error;
    }
    if (attempt >= transport.retry.maxAttempts) throw failure;
    const delayMs = backoffDelay(attempt, transport.retry, transport.random, retryAfterMs);
    exchange.onRetry?.(attempt, delayMs, failure.message);
    await sleep(delayMs, signal);
  }
}

/** One HTTP exchange, body read included, bounded by `timeoutMs` and the caller's signal. */
async function attemptOnce(transport: Transport, exchange: Exchange): Promise<Answer> {
  const { method, url, signal } = exchange;
  const controller = new AbortController();
  const timeout = new TimeoutError(
    `${method} ${url} took longer than ${transport.timeoutMs} ms`,
    transport.timeoutMs,
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  // Racing matters: an injected fetch may ignore the signal.
  const stopped = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort(timeout);
      reject(timeout);
    }, transport.timeoutMs);
    onAbort = () => {
      controller.abort(signal?.reason);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
  const work = (async (): Promise<Answer> => {
    const request = await exchange.request(controller.signal);
    let response: Response;
    try {
      response = await transport.fetch(request);
    } catch (error) {
      throw controller.signal.aborted
        ? controller.signal.reason
        : new NetworkError(`${method} ${url} failed: no response`, { cause: error });
    }
    try {
      return { response, text: await response.text() };
    } catch (error) {
      throw controller.signal.aborted
        ? controller.signal.reason
        : new NetworkError(`${method} ${url} failed: the response was cut off`, { cause: error });
    }
  })();
  try {
    return await Promise.race([work, stopped]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    if (onAbort) signal?.removeEventListener("abort", onAbort);
    work.catch(noop);
    stopped.catch(noop);
  }
}
