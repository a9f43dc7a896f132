/**
 * The agent's HTTP/1.1 proxy front: absolute-form requests of every method,
 * `CONNECT host:port`, and `Upgrade` (WebSocket) pass-through, each carried
 * over a tunnel stream. Heads are forwarded byte for byte except for the
 * proxy's own headers; bodies stream both ways in constant memory.
 */
import type { Logger } from "../log/logger.ts";
import { ResetCode, resetCodeName } from "../tunnel/frames.ts";
import { GATHER, StreamResetError, type TunnelStream } from "../tunnel/stream.ts";
import { writeAll } from "../tunnel/pipe.ts";
import { connSource, Reader, TooLargeError } from "../http/reader.ts";
import {
  clientKeepAlive,
  HttpError,
  latin1ToBytes,
  originRequestHead,
  parseAbsoluteTarget,
  parseAuthority,
  parseRequestHead,
  parseResponseHead,
  type RequestHead,
  responseFraming,
} from "../http/head.ts";
import { copyBody, TruncatedBodyError } from "../http/body.ts";
import { NoTunnelError, type OpenStream } from "./link_manager.ts";
import { listenTcp } from "../net/listen.ts";

export interface HttpProxyOptions {
  /** Opens a tunnel stream to `host:port` (src/agent/link_manager.ts {@linkcode OpenStream}). */
  openStream: OpenStream;
  openTimeoutMs: number;
  headTimeoutMs: number;
  idleTimeoutMs: number;
  maxHeadSize: number;
  maxConnections: number;
  logger: Logger;
  /** Proxy authentication: returns true when the request may proceed. */
  authorize?: (req: RequestHead) => boolean;
}

export interface HttpProxy {
  address: string;
  /** Client connections open now. */
  readonly connections: number;
  /**
   * Stops accepting; idle keep-alive connections close at once, busy ones may
   * finish their exchange for up to `drainMs`, then everything is closed.
   */
  close(drainMs?: number): Promise<void>;
}

const STATUS_TEXT: Record<number, string> = {
  400: "Bad Request",
  403: "Forbidden",
  407: "Proxy Authentication Required",
  408: "Request Timeout",
  431: "Request Header Fields Too Large",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

/** The proxy's own error response, with a `Fluidity-Error` header naming the reason. */
export function errorResponse(
  status: number,
  reason: string,
  message: string,
  extra = "",
): Uint8Array {
  const text = STATUS_TEXT[status] ?? "Error";
  const body = new TextEncoder().encode(`${status} ${text}: ${message.replace(/[\r\n]+/g, " ")}\n`);
  const head = latin1ToBytes(
    `HTTP/1.1 ${status} ${text}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Fluidity-Error: ${reason}\r\n${extra}Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
  );
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

/** HTTP status for a stream reset code. */
export function statusForReset(code: number): number {
  switch (code) {
    case ResetCode.TIMEOUT:
      return 504;
    case ResetCode.FORBIDDEN:
      return 403;
    case ResetCode.LIMIT:
    case ResetCode.GOING_AWAY:
      return 503;
    default:
      return 502;
  }
}

/** Maps any failure to (status, Fluidity-Error reason, message). */
function classify(e: unknown): { status: number; reason: string; message: string } {
  if (e instanceof HttpError) {
    return {
      status: e.status,
      reason: e.status === 502 ? "bad-origin-response" : "bad-request",
      message: e.message,
    };
  }
  if (e instanceof TooLargeError) {
    return { status: 431, reason: "head-too-large", message: e.message };
  }
  if (e instanceof StreamResetError) {
    return { status: statusForReset(e.code), reason: resetCodeName(e.code), message: e.reason };
  }
  if (e instanceof NoTunnelError) return { status: 503, reason: "no-tunnel", message: e.message };
  if (e instanceof TruncatedBodyError) {
    return { status: 502, reason: "truncated", message: e.message };
  }
  return { status: 502, reason: "internal", message: (e as Error)?.message ?? String(e) };
}

/** The client went away mid-request: nothing to answer. */
class ClientGoneError extends Error {
  override name = "ClientGoneError";
}

interface Upstream {
  authority: string;
  stream: TunnelStream;
  reader: Reader;
  reusable: boolean;
}

function streamReader(stream: TunnelStream): Reader {
  return new Reader(() => stream.read(GATHER));
}

/** Resets the stream with TIMEOUT if the server has not accepted it in time. */
function armOpenTimeout(stream: TunnelStream, ms: number): void {
  const t = setTimeout(() => {
    if (!stream.isOpen) {
      stream.reset(
        ResetCode.TIMEOUT,
        `the server did not reach ${stream.target} within ${ms / 1000}s`,
      );
    }
  }, ms);
  stream.opened.then(() => clearTimeout(t), () => clearTimeout(t));
  stream.done.then(() => clearTimeout(t));
}

class ClientConnection {
  readonly #conn: Deno.TcpConn;
  readonly #o: HttpProxyOptions;
  readonly #log: Logger;
  readonly #reader: Reader;
  readonly #draining: () => boolean;
  #upstream: Upstream | undefined;
  #responseStarted = false;
  #closed = false;
  /** Between a request head and the end of its exchange. */
  busy = false;
  readonly done: Promise<void>;
  #resolveDone!: () => void;

  constructor(conn: Deno.TcpConn, o: HttpProxyOptions, log: Logger, draining: () => boolean) {
    this.#conn = conn;
    this.#o = o;
    this.#log = log;
    this.#draining = draining;
    this.#reader = new Reader(connSource(conn));
    this.done = new Promise((r) => (this.#resolveDone = r));
  }

  /** Closes the client connection now (drain over, or idle at shutdown). */
  abort(): void {
    this.#close();
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }

  async #send(bytes: Uint8Array): Promise<void> {
    await writeAll(this.#conn, bytes);
  }

  async #sendError(e: unknown): Promise<void> {
    if (e instanceof ClientGoneError) return;
    const c = classify(e);
    this.#log.info("request failed", { status: c.status, reason: c.reason, error: c.message });
    if (this.#responseStarted || this.#closed) return;
    this.#responseStarted = true;
    await this.#send(errorResponse(c.status, c.reason, c.message)).catch(() => {});
  }

  async run(): Promise<void> {
    try {
      let first = true;
      for (;;) {
        this.#responseStarted = false;
        this.busy = false;
        if (this.#draining()) break;
        const head = await this.#readHead(first);
        if (head === null) break;
        this.busy = true;
        first = false;
        const req = parseRequestHead(head);
        if (this.#o.authorize && !this.#o.authorize(req)) {
          this.#responseStarted = true;
          await this.#send(
            errorResponse(
              407,
              "proxy-auth",
              "proxy authentication required",
              'Proxy-Authenticate: Basic realm="fluidity"\r\n',
            ),
          );
          break;
        }
        if (req.method === "CONNECT") {
          await this.#connect(req);
          break;
        }
        if (!(await this.#request(req))) break;
      }
    } catch (e) {
      await this.#sendError(e);
    } finally {
      if (this.#upstream) this.#dropUpstream();
      this.#close();
      this.busy = false;
      this.#resolveDone();
    }
  }

  /**
   * When the head being read times out (ms since epoch; 0 = not reading).
   * Checked by the proxy's sweeper: one interval for all connections instead
   * of a timer set and cleared per request (Node-style Timeout objects were
   * ~4 % of the agent's CPU at 10k requests/s).
   */
  deadline = 0;
  #onDeadline: (() => void) | undefined;

  /** Called by the sweeper once `deadline` passed. */
  expire(): void {
    const f = this.#onDeadline;
    this.deadline = 0;
    this.#onDeadline = undefined;
    f?.();
  }

  /** Reads a request head within the head (first) or idle (keep-alive) timeout. */
  async #readHead(first: boolean): Promise<Uint8Array | null> {
    const ms = first ? this.#o.headTimeoutMs : this.#o.idleTimeoutMs;
    let timedOut = false;
    this.#onDeadline = () => {
      timedOut = true;
      const finish = first
        ? this.#send(
          errorResponse(408, "head-timeout", `no complete request head within ${ms / 1000}s`),
        )
        : Promise.resolve();
      this.#responseStarted = true;
      finish.catch(() => {}).finally(() => this.#close());
    };
    this.deadline = Date.now() + ms;
    try {
      return await this.#reader.readHead(this.#o.maxHeadSize);
    } catch (e) {
      if (timedOut || this.#closed) return null;
      if (e instanceof TooLargeError || e instanceof HttpError) throw e;
      return null; // client went away mid-head
    } finally {
      this.deadline = 0;
      this.#onDeadline = undefined;
    }
  }

  #dropUpstream(): void {
    const up = this.#upstream!;
    this.#upstream = undefined;
    up.stream.reset(ResetCode.CANCEL, "client done");
  }

  /**
   * A new upstream (the current one), with the request `head` sent on it. No
   * await comes between the OPEN and the head while a link is up, so both
   * leave in one write. A request reads its response without waiting on
   * `opened`, so the server may send the OPEN_OK with it; a CONNECT (no
   * head) waits for the OPEN_OK before its 200.
   */
  async #openUpstream(authority: string, head?: Uint8Array): Promise<Upstream> {
    const opening = this.#o.openStream(authority, head !== undefined);
    const stream = opening instanceof Promise ? await opening : opening;
    armOpenTimeout(stream, this.#o.openTimeoutMs);
    const up = { authority, stream, reader: streamReader(stream), reusable: false };
    this.#upstream = up;
    if (head) await stream.write(head);
    return up;
  }

  /** One absolute-form request; returns whether the client connection stays open. */
  async #request(req: RequestHead): Promise<boolean> {
    const target = parseAbsoluteTarget(req.target);
    const head = originRequestHead(req, target.path);
    let up = this.#upstream;
    const reused = up !== undefined && up.authority === target.authority && up.reusable;
    if (reused) {
      up!.reusable = false;
      await up!.stream.write(head);
    } else {
      if (up) this.#dropUpstream();
      up = await this.#openUpstream(target.authority, head);
    }
    up = up!;

    let bodyError: unknown;
    let bodyFinished = false;
    const body = copyBody(this.#reader, req.framing, (c) => up!.stream.write(c)).then(
      () => (bodyFinished = true),
      (e) => {
        bodyError = e;
        bodyFinished = true;
        // A malformed or cut-short request body: stop waiting for the origin.
        if (!(e instanceof StreamResetError)) {
          up!.stream.reset(
            ResetCode.CANCEL,
            "the client's request body was malformed or cut short",
          );
        }
      },
    );

    let resHead: Uint8Array | null;
    try {
      resHead = await up.reader.readHead(256 * 1024);
    } catch (e) {
      if (bodyError) throw bodyError instanceof HttpError ? bodyError : new ClientGoneError();
      if (e instanceof TooLargeError) throw new HttpError(502, "origin response head too large");
      throw e;
    }
    if (resHead === null && reused && req.framing.kind === "none") {
      // The origin closed an idle keep-alive connection just as we reused it: retry once.
      this.#log.debug("reused upstream closed; retrying on a new stream", {
        target: target.authority,
      });
      this.#dropUpstream();
      up = await this.#openUpstream(target.authority, head);
      resHead = await up.reader.readHead(256 * 1024);
    }
    if (resHead === null) {
      if (bodyError) throw bodyError;
      throw new HttpError(502, `${target.authority} closed the connection without a response`);
    }
    let res = parseResponseHead(resHead);
    while (res.status >= 100 && res.status < 200 && res.status !== 101) {
      this.#responseStarted = true;
      await this.#send(resHead);
      resHead = await up.reader.readHead(256 * 1024);
      if (resHead === null) throw new HttpError(502, "origin closed after an interim response");
      res = parseResponseHead(resHead);
    }
    if (res.status === 101) {
      this.#responseStarted = true;
      await this.#send(resHead);
      await body; // an upgrade request has no body; make sure nothing is in flight
      await this.#rawPipe(up);
      return false;
    }
    const framing = responseFraming(res, req.method);
    this.#responseStarted = true;
    // When body bytes arrived with the head, both leave in one write (a small
    // response costs one syscall, not two); otherwise the head goes at once.
    let pending: Uint8Array | undefined = framing.kind !== "none" && up.reader.buffered > 0
      ? resHead
      : undefined;
    if (!pending) await this.#send(resHead);
    await copyBody(up.reader, framing, (c) => {
      if (!pending) return writeAll(this.#conn, c);
      const joined = new Uint8Array(pending.length + c.length);
      joined.set(pending);
      joined.set(c, pending.length);
      pending = undefined;
      return writeAll(this.#conn, joined);
    });
    if (pending) await this.#send(pending);
    if (!bodyFinished) {
      // The origin answered before the request body was complete: the rest of it
      // cannot be told apart from a next request, so this connection ends here.
      this.#dropUpstream();
      return false;
    }
    await body;
    if (bodyError) throw bodyError;
    const originKeepAlive = framing.kind !== "close" && !res.connection.has("close") &&
      (res.version === "HTTP/1.1" || res.connection.has("keep-alive"));
    up.reusable = originKeepAlive && !up.reader.ended;
    if (!up.reusable) this.#dropUpstream();
    else {
      // An idle kept stream must not hold a draining server link open.
      const kept = up;
      kept.stream.onLinkUnusable = () => {
        if (this.#upstream === kept && kept.reusable) this.#dropUpstream();
      };
    }
    return clientKeepAlive(req) && framing.kind !== "close" && !res.connection.has("close");
  }

  async #connect(req: RequestHead): Promise<void> {
    const target = parseAuthority(req.target);
    const up = await this.#openUpstream(target.authority);
    await up.stream.opened; // 200 only after the server's dial succeeded
    this.#responseStarted = true;
    await this.#send(latin1ToBytes("HTTP/1.1 200 Connection Established\r\n\r\n"));
    await this.#rawPipe(up);
  }

  /** Bytes both ways until both sides finish; any error tears both down. */
  async #rawPipe(up: Upstream): Promise<void> {
    const stream = up.stream;
    const fail = (e: unknown) => {
      if (!(e instanceof StreamResetError)) {
        stream.reset(ResetCode.CANCEL, `client connection error: ${(e as Error)?.message}`);
      }
      this.#close();
    };
    const upward = (async () => {
      for (let c = await this.#reader.chunk(); c !== null; c = await this.#reader.chunk()) {
        await stream.write(c);
      }
      stream.closeWrite();
    })().catch(fail);
    const downward = (async () => {
      for (let c = await up.reader.chunk(); c !== null; c = await up.reader.chunk()) {
        await writeAll(this.#conn, c);
      }
      await this.#conn.closeWrite().catch(() => {});
    })().catch(fail);
    await Promise.all([upward, downward]);
    this.#upstream = undefined;
  }
}

/** Starts the proxy listener. */
export function startHttpProxy(listen: string, o: HttpProxyOptions): HttpProxy {
  const live = new Map<Deno.TcpConn, ClientConnection>();
  let closing = false;
  const front = listenTcp(listen, o.logger, (conn, peer) => {
    if (live.size >= o.maxConnections) {
      writeAll(
        conn,
        errorResponse(
          503,
          "too-many-connections",
          `more than ${o.maxConnections} client connections`,
        ),
      ).catch(() => {}).finally(() => conn.close());
      return;
    }
    const log = o.logger.child({ client: peer });
    const client = new ClientConnection(conn, o, log, () => closing);
    live.set(conn, client);
    client.run().catch((e) => log.warn("client handler failed", { error: String(e) }))
      .finally(() => live.delete(conn));
  });
  const address = front.address;
  // Head and idle timeouts, checked a few times per the shorter one.
  const tick = Math.min(1000, Math.max(50, Math.min(o.headTimeoutMs, o.idleTimeoutMs) / 4));
  const sweeper = setInterval(() => {
    const now = Date.now();
    for (const c of live.values()) if (c.deadline !== 0 && now >= c.deadline) c.expire();
  }, tick);
  Deno.unrefTimer(sweeper);

  return {
    address,
    get connections() {
      return live.size;
    },
    async close(drainMs = 0) {
      closing = true;
      clearInterval(sweeper);
      front.stop();
      for (const c of live.values()) if (!c.busy) c.abort();
      const busy = [...live.values()];
      if (busy.length && drainMs > 0) {
        o.logger.info("draining client connections", {
          connections: busy.length,
          timeoutSeconds: drainMs / 1000,
        });
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          Promise.all(busy.map((c) => c.done)),
          new Promise((r) => (timer = setTimeout(r, drainMs))),
        ]);
        clearTimeout(timer);
      }
      for (const c of live.values()) c.abort();
      live.clear();
    },
  };
}
