/**
 * Keeps the agent's one link to the server up: locate a server, dial,
 * hand the session to requests, and on loss reconnect with exponential
 * backoff and full jitter; after `rediscoverAfter` consecutive failures, ask
 * the locator for a fresh address (the lifecycle API: wake → query). The one
 * place reconnect logic lives.
 */
import type { Logger } from "../log/logger.ts";
import type { Session } from "../tunnel/session.ts";
import type { TunnelStream } from "../tunnel/stream.ts";
import { abortableSleep as sleep } from "../sleep.ts";

/** Where the server is: static config or lifecycle discovery. */
/**
 * Opens a tunnel stream to `host:port`: at once while a link is up, so bytes
 * the caller writes before it awaits anything leave in the same link write
 * as the OPEN (a fresh request is one write, not two); otherwise it waits
 * for a link and throws NoTunnelError when none comes.
 *
 * `okWithData`: the caller reads without waiting on `stream.opened` (a plain
 * HTTP request), so the server may send its OPEN_OK with the first response
 * bytes (FLAG_OK_WITH_DATA in src/tunnel/frames.ts).
 */
export type OpenStream = (
  target: string,
  okWithData?: boolean,
) => TunnelStream | Promise<TunnelStream>;

export interface ServerLocator {
  /** `fresh` = the previous address failed repeatedly; look again. */
  locate(fresh: boolean, signal: AbortSignal): Promise<{ host: string; port: number }>;
}

/** No link could be had in time: the front answers 503. */
export class NoTunnelError extends Error {
  override name = "NoTunnelError";
}

export interface LinkManagerOptions {
  locator: ServerLocator;
  dial: (host: string, port: number) => Promise<Session>;
  initialBackoffMs: number;
  maxBackoffMs: number;
  rediscoverAfter: number;
  logger: Logger;
  random?: () => number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  now?: () => number;
  /** Errors that must stop the agent (bad API key, version mismatch, wake timeout). */
  isFatal?: (e: unknown) => boolean;
  /** Called once with a fatal error; the manager stops. */
  onFatal?: (e: Error) => void;
  /** Link state changes, for logs and tests. */
  onEvent?: (e: LinkEvent) => void;
}

export type LinkEvent =
  | { type: "up"; host: string; port: number; attempt: number }
  | { type: "down"; reason: string }
  | { type: "dial-failed"; host: string; port: number; failures: number; error: string }
  | { type: "rediscover"; failures: number };

/** Waits `ms`, or less when `signal` aborts (the loop then notices and stops). */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return sleep(ms, signal).catch(() => {});
}

/** Full-jitter exponential backoff: random in [0, min(max, initial·2^(n-1))]. */
export function backoffDelay(
  failures: number,
  initial: number,
  max: number,
  random: () => number,
): number {
  const cap = Math.min(max, initial * 2 ** Math.min(30, Math.max(0, failures - 1)));
  return Math.floor(random() * cap);
}

export class LinkManager {
  readonly #o: LinkManagerOptions;
  readonly #abort = new AbortController();
  #session: Session | undefined;
  #waiters = new Set<() => void>();
  #loop: Promise<void> | undefined;
  #fatal: Error | undefined;
  #lastError: string | undefined;
  readonly #sessions = new Set<Session>();

  constructor(options: LinkManagerOptions) {
    this.#o = options;
  }

  /** Starts the connect loop (idempotent). */
  start(): void {
    this.#loop ??= this.#run().catch((e) => this.#setFatal(e as Error));
  }

  /** The current link if usable. */
  get current(): Session | undefined {
    return this.#session?.usable ? this.#session : undefined;
  }

  get fatalError(): Error | undefined {
    return this.#fatal;
  }

  /** Streams open over all links (the current and any draining after go-away). */
  get streamCount(): number {
    let n = 0;
    for (const s of this.#sessions) n += s.streamCount;
    return n;
  }

  /** The usable link, waiting up to `waitMs` for one. Throws {@linkcode NoTunnelError}. */
  async session(waitMs: number): Promise<Session> {
    const deadline = (this.#o.now ?? Date.now)() + waitMs;
    for (;;) {
      const s = this.current;
      if (s) return s;
      if (this.#fatal) throw new NoTunnelError(`no tunnel: ${this.#fatal.message}`);
      if (this.#abort.signal.aborted) {
        throw new NoTunnelError("no tunnel: the agent is shutting down");
      }
      const left = deadline - (this.#o.now ?? Date.now)();
      if (left <= 0) {
        const last = this.#lastError ? ` (last attempt: ${this.#lastError})` : "";
        throw new NoTunnelError(
          `no tunnel to the server within ${Math.round(waitMs / 100) / 10}s${last}`,
        );
      }
      await new Promise<void>((resolve) => {
        const waiters = this.#waiters;
        const t = setTimeout(done, left);
        function done() {
          clearTimeout(t);
          waiters.delete(done);
          resolve();
        }
        waiters.add(done);
      });
    }
  }

  /** Stops reconnecting; closes links after `drainMs` for in-flight streams. */
  async close(drainMs = 0): Promise<void> {
    this.#abort.abort();
    this.#wake();
    if (drainMs > 0) await Promise.all([...this.#sessions].map((s) => s.drain(drainMs)));
    for (const s of this.#sessions) s.close("agent shutting down");
    // A dial in progress cannot be cancelled; the loop closes its session when
    // it lands. Do not hold shutdown for it.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.#loop, new Promise((r) => (timer = setTimeout(r, 1000)))]);
    clearTimeout(timer);
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }

  #setFatal(e: Error): void {
    if (this.#fatal) return;
    this.#fatal = e;
    this.#wake();
    this.#o.onFatal?.(e);
  }

  async #run(): Promise<void> {
    const o = this.#o;
    const signal = this.#abort.signal;
    const sleep = o.sleep ?? abortableSleep;
    const random = o.random ?? Math.random;
    let addr: { host: string; port: number } | undefined;
    let failures = 0;
    let everUp = false;
    while (!signal.aborted) {
      try {
        if (!addr) addr = await o.locator.locate(everUp || failures > 0, signal);
        if (signal.aborted) break;
        const session = await o.dial(addr.host, addr.port);
        if (signal.aborted) {
          session.close("agent shutting down");
          break;
        }
        everUp = true;
        this.#session = session;
        this.#sessions.add(session);
        session.closed.then(() => this.#sessions.delete(session));
        o.onEvent?.({ type: "up", host: addr.host, port: addr.port, attempt: failures + 1 });
        o.logger.info("tunnel up", { server: `${addr.host}:${addr.port}`, attempts: failures + 1 });
        failures = 0;
        this.#lastError = undefined;
        this.#wake();
        await Promise.race([
          session.unusable,
          new Promise((r) => signal.addEventListener("abort", r, { once: true })),
        ]);
        if (signal.aborted) break;
        const end = session.isClosed ? await session.closed : undefined;
        const reason = end?.error?.message ??
          (session.isClosed ? "closed by the server" : "server going away");
        o.logger.warn("tunnel down", { reason });
        o.onEvent?.({ type: "down", reason });
        if (end?.error?.name === "ProtocolVersionError") throw end.error;
        if (this.#session === session) this.#session = undefined;
        // Reconnect at once the first time; back off if that fails.
        continue;
      } catch (e) {
        if (signal.aborted) break;
        const fatal = o.isFatal?.(e) || (e as { fatal?: boolean }).fatal === true ||
          (e as Error)?.name === "ProtocolVersionError";
        if (fatal) {
          this.#setFatal(e as Error);
          return;
        }
        failures++;
        const msg = (e as Error).message;
        this.#lastError = msg;
        if (addr) {
          o.onEvent?.({
            type: "dial-failed",
            host: addr.host,
            port: addr.port,
            failures,
            error: msg,
          });
        }
        o.logger.warn("cannot connect to the server", { failures, error: msg });
        if (failures % o.rediscoverAfter === 0) {
          o.onEvent?.({ type: "rediscover", failures });
          o.logger.info("rediscovering the server", { failures });
          addr = undefined;
        }
      }
      await sleep(backoffDelay(failures, o.initialBackoffMs, o.maxBackoffMs, random), signal);
    }
  }
}
