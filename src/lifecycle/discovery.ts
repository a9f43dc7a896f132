/**
 * Agent discovery: wake the server, then poll `query` with capped exponential
 * backoff until it is running with an address. The result lives in memory
 * only; nothing is written to disk.
 */
import type { Logger } from "../log/logger.ts";
import { abortableSleep, type LifecycleClient, LifecycleError } from "./client.ts";
import type { ServerStatus } from "./types.ts";

/** No running server within `wakeTimeoutMs`. */
export class DiscoveryTimeoutError extends Error {
  override name = "DiscoveryTimeoutError";
  wakeTimeoutMs: number;
  /** What `query` said last (or "unknown" when it never answered). */
  lastStatus: ServerStatus | "unknown";
  constructor(wakeTimeoutMs: number, lastStatus: ServerStatus | "unknown", options?: ErrorOptions) {
    super(
      `no running server after ${formatMs(wakeTimeoutMs)} (last status: ${lastStatus}): ` +
        "check the server stack and its logs, or raise lifecycle.wake_timeout",
      options,
    );
    this.wakeTimeoutMs = wakeTimeoutMs;
    this.lastStatus = lastStatus;
  }
}

export interface DiscoverOptions {
  /** Give up after this long (the agent's `lifecycle.wake_timeout`). */
  wakeTimeoutMs: number;
  /** Clock in ms. Default `Date.now`. */
  now?: () => number;
  /** Default: a real timer. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Aborting stops discovery with the signal's reason. */
  signal?: AbortSignal;
  /** First poll delay, doubled each poll. Default 500 ms. */
  initialPollMs?: number;
  /** Poll delay cap. Default 5000 ms. */
  maxPollMs?: number;
  logger?: Logger;
}

/**
 * Wakes the server and waits for it: returns the address to dial. Throws
 * {@linkcode DiscoveryTimeoutError} after `wakeTimeoutMs`, a non-transient
 * {@linkcode LifecycleError} (bad key, bad URL) at once, or the signal's
 * reason when aborted. Transient lifecycle failures are retried until the
 * deadline. A server that reports `stopped` while waiting is woken again.
 */
export async function discoverServer(
  client: LifecycleClient,
  opts: DiscoverOptions,
): Promise<{ host: string; port: number }> {
  const now = opts.now ?? Date.now;
  const pause = opts.sleep ?? abortableSleep;
  const outer = opts.signal;
  const initial = Math.max(1, opts.initialPollMs ?? 500);
  const max = Math.max(initial, opts.maxPollMs ?? 5000);
  const log = opts.logger;
  const start = now();
  // Time counts by the clock or by the sleeps we made, whichever is larger, so
  // the loop stays bounded even under a frozen clock.
  let slept = 0;
  const elapsed = () => Math.max(now() - start, slept);
  let delay = initial;
  let lastStatus: ServerStatus | "unknown" = "unknown";
  let lastError: unknown;
  let needWake = true;

  // One signal for every call and pause: aborted by the caller, or at the
  // deadline, so a hung or slowly retrying call cannot overrun wakeTimeoutMs.
  const TIMEOUT = Symbol("wake timeout");
  const ctrl = new AbortController();
  const signal = ctrl.signal;
  const onOuterAbort = () => ctrl.abort(outer!.reason);
  if (outer?.aborted) throw outer.reason;
  outer?.addEventListener("abort", onOuterAbort, { once: true });
  const stopDeadline = new AbortController();
  pause(opts.wakeTimeoutMs, stopDeadline.signal).then(() => ctrl.abort(TIMEOUT), () => {});
  const timeout = () =>
    new DiscoveryTimeoutError(opts.wakeTimeoutMs, lastStatus, { cause: lastError });

  try {
    while (true) {
      if (signal.aborted) throw signal.reason === TIMEOUT ? timeout() : signal.reason;
      try {
        if (needWake) {
          const w = await client.wake(signal);
          needWake = false;
          log?.info("lifecycle wake", { status: w.status, runningCount: w.runningCount });
        }
        const q = await client.query(signal);
        lastStatus = q.status;
        if (q.status === "running" && q.publicIp) {
          log?.info("server discovered", {
            host: q.publicIp,
            port: q.port,
            elapsedMs: elapsed(),
          });
          return { host: q.publicIp, port: q.port };
        }
        if (q.status === "stopped") {
          // Stopped while we wait (crashed, or killed by someone else): ask again.
          log?.warn("server reported stopped while waiting, waking it again");
          needWake = true;
        } else {
          log?.debug("waiting for the server", { status: q.status, elapsedMs: elapsed() });
        }
      } catch (e) {
        if (signal.aborted) continue; // reported at the top of the loop
        if (!(e instanceof LifecycleError) || !e.transient) throw e;
        lastError = e;
        log?.warn("lifecycle call failed, will retry", { error: e.message });
      }
      const remaining = opts.wakeTimeoutMs - elapsed();
      if (remaining <= 0) throw timeout();
      const wait = Math.min(delay, remaining);
      try {
        await pause(wait, signal);
      } catch (e) {
        if (signal.aborted) continue;
        throw e;
      }
      slept += wait;
      delay = Math.min(delay * 2, max);
    }
  } finally {
    stopDeadline.abort();
    outer?.removeEventListener("abort", onOuterAbort);
  }
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
