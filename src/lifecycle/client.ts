/**
 * The agent's lifecycle API client: `POST {url}/wake|query|kill` with
 * `x-api-key`. Transient failures (network errors, timeouts, 5xx, 429) are
 * retried with exponential backoff and full jitter, honouring `Retry-After`;
 * any other 4xx fails at once with a message that names the problem.
 *
 * @example
 * ```ts
 * const client = createLifecycleClient({ url: "http://127.0.0.1:8787", apiKey });
 * const { status } = await client.wake();
 * ```
 */
import type { Logger } from "../log/logger.ts";
import { abortableSleep } from "../sleep.ts";
import type { KillResponse, QueryResponse, WakeResponse } from "./types.ts";

export interface LifecycleClient {
  wake(signal?: AbortSignal): Promise<WakeResponse>;
  query(signal?: AbortSignal): Promise<QueryResponse>;
  kill(signal?: AbortSignal): Promise<KillResponse>;
}

/** A lifecycle call failed. `transient` false means retrying will not help (bad key, bad URL). */
export class LifecycleError extends Error {
  override name = "LifecycleError";
  /** HTTP status, when there was a response. */
  status?: number;
  transient: boolean;
  constructor(message: string, options: ErrorOptions & { status?: number; transient: boolean }) {
    super(message, options);
    this.status = options.status;
    this.transient = options.transient;
  }
}

export interface LifecycleClientOptions {
  /** Base URL: API Gateway stage URL or the local control plane. */
  url: string;
  apiKey: string;
  /** Default: the global `fetch`. */
  fetch?: typeof fetch;
  /** Default: a real timer. Tests inject a fake. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Jitter source in [0, 1). Default `Math.random`. */
  random?: () => number;
  /** Retries after the first attempt for transient failures. Default 5. */
  retries?: number;
  /** Per-attempt timeout. Default 10 s. */
  timeoutMs?: number;
  /** First backoff ceiling (doubles per retry). Default 250 ms. */
  backoffInitialMs?: number;
  /** Largest backoff ceiling. Default 8 s. */
  backoffMaxMs?: number;
  logger?: Logger;
}

type Op = "wake" | "query" | "kill";

/** Creates a client; no request is made until a method is called. */
export function createLifecycleClient(opts: LifecycleClientOptions): LifecycleClient {
  const base = opts.url.replace(/\/+$/, "");
  const doFetch = opts.fetch ?? fetch;
  const pause = opts.sleep ?? abortableSleep;
  const random = opts.random ?? Math.random;
  const retries = Math.max(0, opts.retries ?? 5);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const initial = opts.backoffInitialMs ?? 250;
  const max = opts.backoffMaxMs ?? 8_000;
  const log = opts.logger;

  async function attempt(op: Op, signal?: AbortSignal): Promise<unknown> {
    const url = `${base}/${op}`;
    const ctrl = new AbortController();
    const onAbort = () => ctrl.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    const timer = setTimeout(
      () => ctrl.abort(new DOMException(`timed out after ${timeoutMs} ms`, "TimeoutError")),
      timeoutMs,
    );
    try {
      let res: Response;
      try {
        res = await doFetch(url, {
          method: "POST",
          headers: { "x-api-key": opts.apiKey, "content-type": "application/json" },
          body: "{}",
          signal: ctrl.signal,
        });
      } catch (e) {
        if (signal?.aborted) throw signal.reason;
        const why = ctrl.signal.aborted ? `timed out after ${timeoutMs} ms` : errText(e);
        throw new LifecycleError(`lifecycle API ${url} unreachable: ${why}`, {
          transient: true,
          cause: e,
        });
      }
      const text = await res.text();
      if (res.ok) {
        try {
          return JSON.parse(text);
        } catch (e) {
          throw new LifecycleError(
            `lifecycle API ${url} answered ${res.status} with invalid JSON: ${snippet(text)}`,
            { status: res.status, transient: false, cause: e },
          );
        }
      }
      throw httpError(op, url, res, text);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
  }

  async function call(op: Op, signal?: AbortSignal): Promise<unknown> {
    let last: LifecycleError | undefined;
    for (let i = 0; i <= retries; i++) {
      signal?.throwIfAborted();
      try {
        return await attempt(op, signal);
      } catch (e) {
        if (!(e instanceof LifecycleError) || !e.transient) throw e;
        last = e;
        if (i === retries) break;
        const ceiling = Math.min(max, initial * 2 ** i);
        let delay = Math.floor(random() * ceiling);
        const retryAfter = (e as RetryAfterError).retryAfterMs;
        if (retryAfter !== undefined) delay = Math.max(delay, Math.min(retryAfter, max));
        log?.warn(`lifecycle ${op} failed, retrying`, {
          attempt: i + 1,
          delayMs: delay,
          error: e.message,
        });
        await pause(delay, signal);
      }
    }
    throw new LifecycleError(
      `lifecycle ${op} failed after ${retries + 1} attempts: ${last!.message}`,
      {
        status: last!.status,
        transient: true,
        cause: last,
      },
    );
  }

  return {
    async wake(signal) {
      return await call("wake", signal) as WakeResponse;
    },
    async query(signal) {
      const q = await call("query", signal) as QueryResponse;
      if (!q || typeof q !== "object" || typeof q.status !== "string") {
        throw new LifecycleError(`lifecycle API ${base}/query answered an unexpected body`, {
          transient: false,
        });
      }
      return q;
    },
    async kill(signal) {
      return await call("kill", signal) as KillResponse;
    },
  };
}

type RetryAfterError = LifecycleError & { retryAfterMs?: number };

function httpError(op: Op, url: string, res: Response, text: string): LifecycleError {
  const status = res.status;
  const label = `${status}${res.statusText ? " " + res.statusText : ""}`;
  let message: string | undefined;
  try {
    const m = JSON.parse(text)?.message;
    if (typeof m === "string") message = m;
  } catch {
    // not JSON: use a snippet of the body
  }
  const detail = message ?? snippet(text);
  if (status === 429 || status >= 500) {
    const err: RetryAfterError = new LifecycleError(
      `lifecycle API ${url} answered ${label}${detail ? `: ${detail}` : ""}`,
      { status, transient: true },
    );
    const ra = retryAfterMs(res.headers.get("retry-after"));
    if (ra !== undefined) err.retryAfterMs = ra;
    return err;
  }
  if (status === 401 || status === 403) {
    return new LifecycleError(
      `lifecycle API refused the API key (${status} ${
        res.statusText || "Forbidden"
      }): check lifecycle.api_key / --api-key`,
      { status, transient: false },
    );
  }
  if (status === 404) {
    return new LifecycleError(
      `lifecycle API has no /${op} at ${url} (404 Not Found): check lifecycle.url / --lifecycle-url`,
      { status, transient: false },
    );
  }
  return new LifecycleError(
    `lifecycle API rejected ${op} (${label})${detail ? `: ${detail}` : ""}`,
    { status, transient: false },
  );
}

function retryAfterMs(value: string | null): number | undefined {
  if (!value) return undefined;
  const s = Number(value);
  if (Number.isFinite(s) && s >= 0) return s * 1000;
  return undefined;
}

function snippet(text: string): string {
  const t = text.trim().replace(/\s+/g, " ");
  return t.length > 200 ? `${t.slice(0, 200)}…` : t;
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Re-exported: discovery and the callers of the client sleep the same way. */
export { abortableSleep };
