/**
 * One stream of a link: a byte pipe in each direction with flow control,
 * half-close and reset. Created only by {@linkcode Session}.
 */
import { type ResetCode, resetCodeName } from "./frames.ts";

/** How much queued data one read may join for a socket write (see {@linkcode TunnelStream.read}). */
export const GATHER = 256 * 1024;

/**
 * A stream ended by a RESET (from the peer or locally) or by the link going
 * down. It carries no stack trace: one is made for every stream a client
 * closes, where it says nothing the code and reason do not, and capturing
 * it was ~5 % of the server's CPU per fresh connection.
 */
export class StreamResetError extends Error {
  readonly code: number;
  readonly reason: string;
  constructor(code: number, reason: string) {
    const message = `stream reset (${resetCodeName(code)}): ${reason}`;
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
    this.name = "StreamResetError";
    this.code = code;
    this.reason = reason;
  }
}

/** What a stream needs from its session. */
export interface StreamHost {
  sendData(stream: TunnelStream, data: Uint8Array, fin: boolean): void;
  sendFin(stream: TunnelStream): void;
  sendReset(stream: TunnelStream, code: ResetCode, reason: string): void;
  /** `n` bytes left the receive queue: return credit (stream and link). */
  consumed(stream: TunnelStream, n: number): void;
  maxSendFrame(): number;
  linkCredit(): number;
  takeLinkCredit(n: number): void;
  waitLinkCredit(stream: TunnelStream): Promise<void>;
  finished(stream: TunnelStream): void;
}

type Waiter = { resolve: () => void; reject: (e: Error) => void };

/**
 * A bidirectional, flow-controlled byte stream over the link.
 *
 * `read()` returns chunks in order and `null` at the peer's half-close;
 * `write()` resolves once the bytes are handed to the link (waiting for
 * credit when the peer's window is full); `closeWrite()` half-closes;
 * `reset()` aborts both directions.
 */
export class TunnelStream {
  readonly id: number;
  readonly target: string;
  /** Resolves when the peer accepted the stream (OPEN_OK); rejects on RESET. */
  readonly opened: Promise<void>;
  /** The peer's OPEN had FLAG_OK_WITH_DATA: our OPEN_OK may wait for our first frame. */
  okWithData = false;
  /** Resolves when both directions are finished or the stream was reset. */
  readonly done: Promise<void>;

  #host: StreamHost;
  #sendCredit: number;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #readEnded = false;
  #writeEnded = false;
  #error: StreamResetError | undefined;
  #reader: { resolve: (c: Uint8Array | null) => void; reject: (e: Error) => void } | undefined;
  #writer: Waiter | undefined;
  #resolveOpened!: () => void;
  #rejectOpened!: (e: Error) => void;
  #resolveDone!: () => void;
  #isOpen = false;
  /** Last time a frame for this stream moved either way (ms, from the session clock). */
  lastActive = 0;
  /**
   * Called once if the stream's link stops taking new streams (GOAWAY or
   * closed) while this stream is open. A field, not a promise reaction: a
   * kept-alive upstream sets it per request without piling up callbacks.
   */
  onLinkUnusable: (() => void) | undefined;

  constructor(host: StreamHost, id: number, target: string, sendCredit: number, accepted: boolean) {
    this.#host = host;
    this.id = id;
    this.target = target;
    this.#sendCredit = sendCredit;
    this.opened = new Promise((res, rej) => {
      this.#resolveOpened = res;
      this.#rejectOpened = rej;
    });
    this.opened.catch(() => {});
    this.done = new Promise((res) => (this.#resolveDone = res));
    if (accepted) this.markOpened();
  }

  /** Bytes received and not yet read. */
  get queued(): number {
    return this.#queued;
  }

  get isOpen(): boolean {
    return this.#isOpen;
  }

  get resetError(): StreamResetError | undefined {
    return this.#error;
  }

  /**
   * Next chunk, or `null` once the peer half-closed. Throws
   * {@linkcode StreamResetError}. With `gather`, chunks already queued are
   * joined into one of up to `gather` bytes: one write to a socket instead of
   * many small ones (TLS-sized pieces arrive 16 KiB at a time).
   */
  read(gather = 0): Promise<Uint8Array | null> {
    let chunk = this.#queue.shift();
    if (chunk) {
      if (gather > chunk.length && this.#queue.length > 0) chunk = this.#gather(chunk, gather);
      this.#queued -= chunk.length;
      this.#host.consumed(this, chunk.length);
      if (this.#queue.length === 0) this.#maybeDone();
      return Promise.resolve(chunk);
    }
    if (this.#error) return Promise.reject(this.#error);
    if (this.#readEnded) return Promise.resolve(null);
    if (this.#reader) return Promise.reject(new Error("concurrent read on a tunnel stream"));
    return new Promise((resolve, reject) => (this.#reader = { resolve, reject }));
  }

  #gather(first: Uint8Array, max: number): Uint8Array {
    let total = first.length;
    let n = 0;
    while (n < this.#queue.length && total + this.#queue[n]!.length <= max) {
      total += this.#queue[n]!.length;
      n++;
    }
    if (n === 0) return first;
    const out = new Uint8Array(total);
    out.set(first);
    let off = first.length;
    for (const c of this.#queue.splice(0, n)) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }

  /**
   * Sends bytes, split to the peer's frame size and credit. The link may keep
   * a reference to `data` until it is flushed: do not modify it afterwards.
   */
  async write(data: Uint8Array): Promise<void> {
    let off = 0;
    while (off < data.length) {
      if (this.#error) throw this.#error;
      if (this.#writeEnded) throw new Error("write after closeWrite on a tunnel stream");
      const link = this.#host.linkCredit();
      if (this.#sendCredit <= 0) {
        await new Promise<void>((resolve, reject) => (this.#writer = { resolve, reject }));
        continue;
      }
      if (link <= 0) {
        await this.#host.waitLinkCredit(this);
        continue;
      }
      const n = Math.min(data.length - off, this.#sendCredit, link, this.#host.maxSendFrame());
      this.#sendCredit -= n;
      this.#host.takeLinkCredit(n);
      this.#host.sendData(this, data.subarray(off, off + n), false);
      off += n;
    }
  }

  /** Half-closes our direction (FIN). Idempotent. */
  closeWrite(): void {
    if (this.#writeEnded || this.#error) return;
    this.#writeEnded = true;
    this.#host.sendFin(this);
    this.#maybeDone();
  }

  /** Aborts the stream both ways and tells the peer why. Idempotent. */
  reset(code: ResetCode, reason: string): void {
    if (this.#error) return;
    this.#host.sendReset(this, code, reason);
    this.fail(new StreamResetError(code, reason));
  }

  // ---- called by the session ----

  markOpened(): void {
    this.#isOpen = true;
    this.#resolveOpened();
  }

  /** Data from the peer. Returns false when it overflows the window we granted. */
  deliver(chunk: Uint8Array): void {
    if (this.#error || this.#readEnded) {
      // Late data after reset/FIN: drop it but keep the link's accounting right.
      this.#host.consumed(this, chunk.length);
      return;
    }
    if (chunk.length === 0) return;
    if (this.#reader) {
      const r = this.#reader;
      this.#reader = undefined;
      this.#host.consumed(this, chunk.length);
      r.resolve(chunk);
      return;
    }
    // A small view into a large read buffer would keep all of it alive while
    // it waits (200 slow streams × one 256 KiB buffer each): copy those.
    this.#queue.push(chunk.length * 4 < chunk.buffer.byteLength ? chunk.slice() : chunk);
    this.#queued += chunk.length;
  }

  deliverFin(): void {
    if (this.#readEnded || this.#error) return;
    this.#readEnded = true;
    if (this.#reader && this.#queue.length === 0) {
      const r = this.#reader;
      this.#reader = undefined;
      r.resolve(null);
    }
    this.#maybeDone();
  }

  addCredit(n: number): void {
    this.#sendCredit += n;
    this.wakeWriter();
  }

  wakeWriter(): void {
    const w = this.#writer;
    this.#writer = undefined;
    w?.resolve();
  }

  /** Ends the stream with an error (peer RESET, link loss). */
  fail(err: StreamResetError): void {
    if (this.#error) return;
    this.#error = err;
    const dropped = this.#queued;
    this.#queue = [];
    this.#queued = 0;
    if (dropped) this.#host.consumed(this, dropped);
    this.#rejectOpened(err);
    this.#reader?.reject(err);
    this.#reader = undefined;
    this.#writer?.reject(err);
    this.#writer = undefined;
    if (!this.#finishedOnce) {
      this.#finishedOnce = true;
      this.#host.finished(this);
    }
    this.#resolveDone();
  }

  #finishedOnce = false;

  #maybeDone(): void {
    if (this.#readEnded && this.#writeEnded && this.#queue.length === 0 && !this.#finishedOnce) {
      this.#finishedOnce = true;
      this.#host.finished(this);
      this.#resolveDone();
    }
  }
}
