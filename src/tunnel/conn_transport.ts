/**
 * Adapts a `Deno.Conn` (a `Deno.TlsConn` in production) to the session's
 * {@linkcode Transport}. Deno's own TLS reads and writes through its ops,
 * without the `node:tls` stream machinery: receiving 64 MiB costs ~40 ms of
 * CPU here against ~130 ms through `node:tls` (bench/README.md).
 */
import type { Transport } from "./session.ts";
import { connSource } from "../http/reader.ts";
import { gcPacer } from "./gc_pacer.ts";

/** Link reads: TLS hands out up to a record (16 KiB) and more when several are buffered. */
const READ_SIZES = { min: 16 * 1024, max: 256 * 1024 };
/** Frames queued in one tick leave in one write, up to this size. */
const MAX_BATCH = 128 * 1024;
/** The largest TLS record's payload. */
const RECORD = 16 * 1024;
/** How long a lazy write waits for one that is not, before it leaves on its own. */
export const LAZY_MS = 2;

/** The subset of `Deno.Conn` the transport uses. */
export interface TransportConn {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
}

export interface ConnTransportOptions {
  /**
   * Bytes appended to every write smaller than a TLS record: a frame the
   * peer answers soon (a PING, docs/protocol.md "Nagle"). For conns without
   * TCP_NODELAY.
   */
  ackProbe?: Uint8Array;
}

/**
 * Reads come from {@linkcode connSource}: chunks are never reused, so the
 * frame decoder hands out views of them as stream data without copying.
 *
 * Writes are fire-and-forget for the session (flow control bounds what can
 * be queued): frames written in the same tick are joined into one write, and
 * a lazy frame waits up to {@linkcode LAZY_MS} to join the next one.
 *
 * `Deno.TlsConn` has no `setNoDelay`, so Nagle's algorithm holds a small
 * write while an earlier small one is unacknowledged, and the peer delays
 * that ACK by up to 40 ms when it has nothing to send back (a RESET, a
 * WINDOW, a request whose answer is slow, one-way WebSocket messages): the
 * next request waited 40 ms. With `ackProbe` every small write ends with a
 * frame the peer answers soon, so its ACK rides on that answer and a held
 * write waits about one round trip.
 */
export function connTransport(conn: TransportConn, options: ConnTransportOptions = {}): Transport {
  const probe = options.ackProbe;
  let queue: Uint8Array[] = [];
  let flushing = false;
  let ending = false;
  let closed = false;
  let error: Error | undefined;
  let onData: ((chunk: Uint8Array) => void) | undefined;
  let onClose: ((err?: Error) => void) | undefined;
  let lazyTimer: ReturnType<typeof setTimeout> | undefined;
  const stopLazyTimer = () => {
    if (lazyTimer === undefined) return;
    clearTimeout(lazyTimer);
    lazyTimer = undefined;
  };

  // Deno's reads land in buffers V8 accounts for: only the full collection
  // when the link goes quiet, to give a burst's memory back.
  const pacer = gcPacer();
  const finish = (err?: Error) => {
    if (closed) return;
    closed = true;
    pacer.stop();
    stopLazyTimer();
    error ??= err;
    queue = [];
    try {
      conn.close();
    } catch { /* already closed */ }
    onClose?.(error);
  };

  /**
   * The next write: what is queued, up to MAX_BATCH, cut to whole TLS
   * records when over one. TLS splits each write into records of up to
   * 16 KiB; a write of 64 KiB + a 9-byte header would end in a tiny record,
   * and the receiving `node:tls` server pays per record. The rest of a cut
   * chunk leads the next write, together with what queued meanwhile.
   * Joined writes are assembled in one buffer of the link, reused: `flush`
   * awaits each write to the end before it takes the next.
   */
  const batch = new Uint8Array(MAX_BATCH);
  const take = (): Uint8Array => {
    let total = 0;
    for (let i = 0; i < queue.length && total < MAX_BATCH; i++) total += queue[i]!.length;
    if (probe && total < RECORD) {
      // A small write ends with the probe, joined in the same copy.
      queue.push(probe);
      total += probe.length;
    }
    let size = Math.min(total, MAX_BATCH);
    if (size > RECORD) size -= size % RECORD;
    if (queue[0]!.length === size) return queue.shift()!;
    const out = batch.subarray(0, size);
    for (let off = 0; off < size;) {
      const c = queue[0]!;
      const n = Math.min(c.length, size - off);
      out.set(n === c.length ? c : c.subarray(0, n), off);
      off += n;
      if (n === c.length) queue.shift();
      else queue[0] = c.subarray(n);
    }
    return out;
  };

  const flush = async () => {
    try {
      while (queue.length > 0 && !closed) {
        const batch = take();
        let off = 0;
        while (off < batch.length) {
          off += await conn.write(off === 0 ? batch : batch.subarray(off));
        }
      }
      if (ending && !closed) await conn.closeWrite();
    } catch (e) {
      finish(e instanceof Error ? e : new Error(String(e)));
    } finally {
      flushing = false;
    }
  };

  const startFlush = () => {
    stopLazyTimer();
    if (flushing || closed) return;
    flushing = true;
    queueMicrotask(flush);
  };

  const readLoop = async () => {
    const next = connSource(conn, READ_SIZES);
    try {
      for (;;) {
        const chunk = await next();
        if (chunk === null || closed) break;
        pacer.moved(chunk.length);
        onData?.(chunk);
      }
      finish();
    } catch (e) {
      finish(closed ? undefined : e instanceof Error ? e : new Error(String(e)));
    }
  };

  return {
    write(bytes, lazy) {
      if (closed || ending || bytes.length === 0) return;
      queue.push(bytes);
      pacer.moved(bytes.length);
      if (!lazy) return startFlush();
      // A flush under way takes it anyway; otherwise wait for company.
      if (flushing || lazyTimer !== undefined) return;
      const timer = setTimeout(() => {
        lazyTimer = undefined;
        startFlush();
      }, LAZY_MS);
      Deno.unrefTimer(timer as unknown as number);
      lazyTimer = timer;
    },
    end() {
      if (closed || ending) return;
      ending = true;
      stopLazyTimer();
      if (!flushing) {
        flushing = true;
        queueMicrotask(flush);
      }
    },
    destroy() {
      finish();
    },
    onData(cb) {
      onData = cb;
      readLoop();
    },
    onClose(cb) {
      onClose = cb;
    },
  };
}
