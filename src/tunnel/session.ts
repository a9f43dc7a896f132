/**
 * A link: many {@linkcode TunnelStream}s multiplexed over one byte transport
 * (the mTLS socket), with per-stream and per-link flow control, keepalive
 * pings, dead-link detection and go-away. The protocol knows no roles: the
 * side that dials the link is the `initiator` (odd stream ids), but either
 * side may open streams when it has an `onStream` peer.
 */
import type { Logger } from "../log/logger.ts";
import { VERSION } from "../version.ts";
import {
  ACK_PROBE_PAYLOAD,
  type AuthProof,
  decodeAuthProof,
  decodeGoAway,
  decodeHello,
  decodeOpen,
  decodeReset,
  decodeU32,
  encodeAuthProof,
  encodeFrame,
  encodeFrameHeader,
  encodeGoAway,
  encodeHello,
  encodeOpen,
  encodeReset,
  encodeU32,
  FLAG_ACK,
  FLAG_FIN,
  FLAG_OK_WITH_DATA,
  type Frame,
  FrameDecoder,
  FrameError,
  FrameType,
  type Hello,
  isAckProbe,
  PROTOCOL_VERSION,
  ResetCode,
  resetCodeName,
} from "./frames.ts";
import { type StreamHost, StreamResetError, TunnelStream } from "./stream.ts";
import { WindowTuner } from "./window_tuner.ts";

/** The byte pipe under a session (a TLS socket in production, a pair in tests). */
export interface Transport {
  /**
   * Queues bytes for the peer. `lazy` bytes may wait a moment (at most
   * LAZY_MS in src/tunnel/conn_transport.ts) for a write that is not lazy, to
   * leave in the same one; transports that write at once ignore it.
   */
  write(bytes: Uint8Array, lazy?: boolean): void;
  /** Graceful end of our side. */
  end(): void;
  /** Immediate teardown. */
  destroy(): void;
  onData(cb: (chunk: Uint8Array) => void): void;
  onClose(cb: (err?: Error) => void): void;
}

export interface Clock {
  now(): number;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(id: unknown): void;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

/** Monotonic milliseconds (sub-millisecond round trips matter to window tuning). */
export const realClock: Clock = {
  now: () => performance.now(),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (id) => clearInterval(id as number),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as number),
};

export interface SessionOptions {
  /** The side that dialed the link; its stream ids are odd. */
  initiator: boolean;
  /** Our receive window per stream (announced in HELLO). */
  streamWindow: number;
  /** Ceiling for each stream's receive-window auto-tuning (src/tunnel/window_tuner.ts); absent: no tuning. */
  streamWindowMax?: number;
  /** Our receive window for the whole link, announced in HELLO. */
  linkWindow: number;
  /** Ceiling for the link's receive-window auto-tuning; absent: no tuning. */
  linkWindowMax?: number;
  /** Largest frame payload we accept. */
  maxFrameSize: number;
  /** Most concurrent streams the peer may open to us. */
  maxStreams: number;
  /** Ping after this much silence; 0 disables keepalive. */
  keepaliveIntervalMs: number;
  /** Declare the link dead when a ping is unanswered this long. */
  keepaliveTimeoutMs: number;
  /** Reset streams idle this long; 0 = never. */
  idleStreamTimeoutMs?: number;
  /** Accepts streams the peer opens; without it every OPEN is refused. */
  onStream?: (stream: TunnelStream) => void;
  /** Called with byte counts of stream data received (`in`) and sent (`out`), for metrics. */
  onTraffic?: (bytes: number, direction: "in" | "out") => void;
  /**
   * Challenge the peer to prove its identity (AUTH); the link becomes ready
   * only once `verify` accepted the answer (src/certs/link_proof.ts).
   */
  peerProof?: { nonce: Uint8Array; verify(proof: AuthProof): void };
  /** Answers the peer's AUTH challenge; without it a challenge closes the link. */
  proveIdentity?: (nonce: Uint8Array) => AuthProof;
  logger: Logger;
  clock?: Clock;
}

/** Why the link ended. */
export interface LinkEnd {
  /** Set when the link failed rather than closed cleanly. */
  error?: Error;
  /** Whether the peer said goodbye (GOAWAY) before closing. */
  goAway?: { code: number; reason: string };
  /** Whether the peer's HELLO had arrived. */
  helloReceived: boolean;
}

/** Thrown by {@linkcode Session.open} when the link cannot take new streams. */
export class LinkUnavailableError extends Error {
  override name = "LinkUnavailableError";
}

/** A version mismatch with the peer: a clear, non-retryable error. */
export class ProtocolVersionError extends Error {
  override name = "ProtocolVersionError";
}

const encoderSoftware = `fluidity/${VERSION}`;

/** One side of a flow-control window we grant: credit still open, consumed bytes not yet credited. */
interface RecvWindow {
  budget: number;
  unacked: number;
  /** Grows the window on long paths; a no-op when tuning is off (ceiling at or below the start). */
  tuner: WindowTuner;
}

/**
 * How long an ACK probe (a PING with {@linkcode ACK_PROBE_PAYLOAD}, the
 * agent's counter to Nagle, docs/protocol.md) may wait for a frame we send
 * anyway before it gets its own answer. A fresh request's OPEN_OK or response
 * usually leaves well within it, and each answer saved is a write and a
 * read on the link; a write the peer's Nagle holds meanwhile waits at most
 * this long, not the 40 ms of a delayed ACK. An OPEN_OK owed to an OPEN with
 * FLAG_OK_WITH_DATA waits as long for the stream's first frame.
 */
export const PROBE_ANSWER_MS = 1;

/** Round trips measured when a link with window auto-tuning becomes ready. */
const RTT_SAMPLES = 3;

export class Session implements StreamHost {
  readonly #t: Transport;
  readonly #o: SessionOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #decoder: FrameDecoder;
  readonly #streams = new Map<number, TunnelStream>();
  /** Our receive side of each stream's flow control. */
  readonly #recv = new Map<number, RecvWindow>();

  #peer: Hello | undefined;
  /** The peer's HELLO arrived and, when we asked, its identity proof passed. */
  #ready = false;
  #proofAnswered = false;
  #nextLocalId: number;
  #highestRemoteId = 0;
  #linkSendCredit = 0;
  /** Our receive side of the link's flow control. */
  readonly #linkRecv: RecvWindow;
  /**
   * Smallest round trip seen on this link, ms (Infinity: none yet), for
   * window auto-tuning. Sampled while the link is quiet (at its start and
   * by keepalive pings), so queueing behind bulk data does not inflate it.
   */
  #minRtt = Infinity;
  #linkWaiters: Array<() => void> = [];
  #goingAway = false;
  #peerGoAway: { code: number; reason: string } | undefined;
  #closed = false;
  #lastRecv: number;
  #pingSentAt = 0;
  #pingSeq = 0;
  #pings = new Map<number, { sentAt: number; resolve: (rtt: number) => void }>();
  #timer: unknown;
  /** The chunk being read opened a stream or carried data: we will likely send soon. */
  #answerSoon = false;
  /** An ACK probe arrived and nothing was sent since (see {@linkcode PROBE_ANSWER_MS}). */
  #probeOwed = false;
  #answerTimer: unknown;
  /** Accepted streams whose OPEN_OK waits for their first frame ({@linkcode accept}). */
  #okOwed: TunnelStream[] = [];
  #resolveReady!: (h: Hello) => void;
  #rejectReady!: (e: Error) => void;
  #resolveClosed!: (end: LinkEnd) => void;

  /** Resolves with the peer's HELLO; rejects if the link ends first. */
  readonly ready: Promise<Hello>;
  /** Resolves once when the link is gone. */
  readonly closed: Promise<LinkEnd>;
  /** Resolves when the peer said GOAWAY or the link closed: open new streams elsewhere. */
  readonly unusable: Promise<void>;
  #resolveUnusable!: () => void;

  constructor(transport: Transport, options: SessionOptions) {
    this.#t = transport;
    this.#o = options;
    this.#clock = options.clock ?? realClock;
    this.#log = options.logger;
    this.#decoder = new FrameDecoder(options.maxFrameSize, { streamData: true });
    this.#nextLocalId = options.initiator ? 1 : 2;
    this.#lastRecv = this.#clock.now();
    this.#linkRecv = this.#recvWindow(options.linkWindow, options.linkWindowMax);
    this.ready = new Promise((res, rej) => {
      this.#resolveReady = res;
      this.#rejectReady = rej;
    });
    this.ready.catch(() => {});
    this.closed = new Promise((res) => (this.#resolveClosed = res));
    this.unusable = new Promise((res) => (this.#resolveUnusable = res));

    transport.onData((chunk) => this.#onData(chunk));
    transport.onClose((err) => this.#teardown(err));
    transport.write(encodeHello({
      version: PROTOCOL_VERSION,
      streamWindow: options.streamWindow,
      linkWindow: options.linkWindow,
      maxFrameSize: options.maxFrameSize,
      software: encoderSoftware,
    }));
    if (options.peerProof) {
      transport.write(encodeFrame(FrameType.AUTH, 0, 0, options.peerProof.nonce));
    }
    const tick = Math.max(
      50,
      Math.min(options.keepaliveIntervalMs, options.keepaliveTimeoutMs) / 2,
    );
    if (options.keepaliveIntervalMs > 0 || (options.idleStreamTimeoutMs ?? 0) > 0) {
      this.#timer = this.#clock.setInterval(() => this.#tick(), tick);
    }
  }

  /** Streams currently open. */
  get streamCount(): number {
    return this.#streams.size;
  }

  get peerHello(): Hello | undefined {
    return this.#peer;
  }

  /** True while new streams can be opened. */
  get usable(): boolean {
    return !this.#closed && !this.#peerGoAway && !this.#goingAway && this.#ready;
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  /**
   * Opens a stream to `target` (`host:port`). Returns at once; data may be
   * written before the peer accepts (it waits in the peer's window), and
   * `stream.opened` settles when the peer accepted or refused. With
   * `okWithData` (the caller does not wait on `opened` before it reads) the
   * peer may send its OPEN_OK with the stream's first data
   * ({@linkcode FLAG_OK_WITH_DATA}).
   */
  open(target: string, okWithData = false): TunnelStream {
    if (this.#closed) throw new LinkUnavailableError("the tunnel link is closed");
    if (this.#peerGoAway) {
      throw new LinkUnavailableError(`the server is going away: ${this.#peerGoAway.reason}`);
    }
    if (this.#goingAway) throw new LinkUnavailableError("the tunnel link is shutting down");
    if (!this.#ready) throw new LinkUnavailableError("the tunnel link is not ready");
    const id = this.#nextLocalId;
    this.#nextLocalId += 2;
    const s = new TunnelStream(this, id, target, this.#peer!.streamWindow, false);
    s.lastActive = this.#clock.now();
    this.#streams.set(id, s);
    this.#recv.set(id, this.#recvWindow(this.#o.streamWindow, this.#o.streamWindowMax));
    this.#send(encodeOpen(id, target, okWithData ? FLAG_OK_WITH_DATA : 0));
    return s;
  }

  /** Round-trip time of one ping, in ms. */
  ping(): Promise<number> {
    if (this.#closed) return Promise.reject(new LinkUnavailableError("the tunnel link is closed"));
    const seq = ++this.#pingSeq;
    return new Promise((resolve) => {
      const sentAt = this.#clock.now();
      this.#pings.set(seq, { sentAt, resolve });
      this.#sendPing(seq, 0);
    });
  }

  /** Tells the peer no new streams will be accepted; in-flight streams continue. */
  goAway(code: ResetCode, reason: string): void {
    if (this.#goingAway || this.#closed) return;
    this.#goingAway = true;
    this.#send(encodeGoAway(this.#highestRemoteId, code, reason));
  }

  /** Resolves when no streams remain, or after `timeoutMs`. */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = this.#clock.now() + timeoutMs;
    while (this.#streams.size > 0 && !this.#closed) {
      const left = deadline - this.#clock.now();
      if (left <= 0) return false;
      await Promise.race([
        ...[...this.#streams.values()].map((s) => s.done),
        new Promise((r) => setTimeout(r, Math.min(left, 250))),
      ]);
    }
    return true;
  }

  /** Closes the link: streams still open are reset with LINK_CLOSED. */
  close(reason = "closed"): void {
    if (this.#closed) return;
    this.#t.end();
    this.#teardown(undefined, reason);
    // Make sure a peer that never reads does not hold the socket open.
    Deno.unrefTimer(setTimeout(() => this.#t.destroy(), 2000));
  }

  /** Immediate teardown with an error. */
  destroy(err: Error): void {
    if (this.#closed) return;
    this.#t.destroy();
    this.#teardown(err);
  }

  // ---- StreamHost ----

  sendData(s: TunnelStream, data: Uint8Array, fin: boolean): void {
    if (this.#closed) return;
    s.lastActive = this.#clock.now();
    this.#payOpenOk(s);
    this.#o.onTraffic?.(data.length, "out");
    if (data.length < 4096) {
      this.#send(encodeFrame(FrameType.DATA, fin ? FLAG_FIN : 0, s.id, data));
      return;
    }
    // Header and payload as two writes of one corked batch: no copy of the
    // payload (TunnelStream.write's caller hands it over and does not reuse it).
    this.#send(encodeFrameHeader(FrameType.DATA, fin ? FLAG_FIN : 0, s.id, data.length));
    this.#send(data);
  }

  sendFin(s: TunnelStream): void {
    if (this.#closed) return;
    this.#payOpenOk(s);
    this.#send(encodeFrame(FrameType.DATA, FLAG_FIN, s.id));
  }

  /**
   * A CANCEL (we gave the stream up: the client left or is done) is not
   * urgent: it may wait for the next frame, typically the OPEN of the
   * client's next connection, instead of taking a link write of its own.
   */
  sendReset(s: TunnelStream, code: ResetCode, reason: string): void {
    if (this.#closed) return;
    this.#payOpenOk(s);
    this.#send(encodeReset(s.id, code, reason), code === ResetCode.CANCEL);
  }

  #recvWindow(initial: number, max = 0): RecvWindow {
    return { budget: initial, unacked: 0, tuner: new WindowTuner(initial, max, this.#clock.now()) };
  }

  /**
   * `n` received bytes of `w` (stream `id`, 0 for the link) left the receive
   * queues: return credit a quarter window at a time, with what the window
   * grew by (src/tunnel/window_tuner.ts).
   */
  #consumed(w: RecvWindow, id: number, n: number): void {
    w.unacked += n;
    const window = w.tuner.window;
    if (w.unacked < window / 4) return;
    // Received and not yet read: what the window holds beyond the credit still open and unsent.
    const backlog = window - w.budget - w.unacked;
    const extra = w.tuner.credited(w.unacked, this.#clock.now(), this.#minRtt, backlog);
    if (extra) {
      this.#log.debug(`${id ? "stream" : "link"} window grown`, {
        ...(id ? { stream: id } : {}),
        window: window + extra,
        rtt_ms: Math.round(this.#minRtt * 100) / 100,
      });
    }
    const credit = w.unacked + extra;
    w.budget += credit;
    w.unacked = 0;
    this.#send(encodeU32(FrameType.WINDOW, id, credit));
  }

  /** Our current receive window for the whole link. */
  get linkWindow(): number {
    return this.#linkRecv.tuner.window;
  }

  /** Our current receive window for stream `id` (the configured one unless it was tuned). */
  streamWindow(id: number): number {
    return this.#recv.get(id)?.tuner.window ?? this.#o.streamWindow;
  }

  #noteRtt(ms: number): void {
    if (ms < this.#minRtt) this.#minRtt = ms;
  }

  consumed(s: TunnelStream, n: number): void {
    if (this.#closed || n === 0) return;
    this.#consumed(this.#linkRecv, 0, n);
    // Stream credit, only while the stream can still receive.
    const w = this.#recv.get(s.id);
    if (w && !s.resetError) this.#consumed(w, s.id, n);
  }

  maxSendFrame(): number {
    return Math.min(this.#peer?.maxFrameSize ?? 16384, 64 * 1024);
  }

  linkCredit(): number {
    return this.#linkSendCredit;
  }

  takeLinkCredit(n: number): void {
    this.#linkSendCredit -= n;
  }

  waitLinkCredit(s: TunnelStream): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#closed) {
        reject(s.resetError ?? new StreamResetError(ResetCode.LINK_CLOSED, "link closed"));
        return;
      }
      this.#linkWaiters.push(() => {
        const err = s.resetError;
        if (err) reject(err);
        else resolve();
      });
    });
  }

  finished(s: TunnelStream): void {
    this.#streams.delete(s.id);
    this.#recv.delete(s.id);
  }

  // ---- receive path ----

  #onData(chunk: Uint8Array): void {
    if (this.#closed) return;
    this.#lastRecv = this.#clock.now();
    this.#answerSoon = false;
    try {
      this.#decoder.push(chunk, (f) => this.#onFrame(f));
    } catch (e) {
      const err = e instanceof FrameError ? e : new FrameError(String((e as Error)?.message ?? e));
      this.#protocolError(err);
    }
  }

  /**
   * Closes the link over bad input: GOAWAY with `reason` (what the peer is
   * told), then teardown with `err` (what our side reports).
   */
  #protocolError(err: Error, what = "protocol error", reason = err.message): void {
    if (this.#closed) return;
    this.#log.warn(`closing link: ${what}`, { error: err.message });
    try {
      this.#send(encodeGoAway(this.#highestRemoteId, ResetCode.PROTOCOL, reason));
    } catch { /* socket may be gone */ }
    this.#t.end();
    this.#teardown(err);
    Deno.unrefTimer(setTimeout(() => this.#t.destroy(), 500));
  }

  #onFrame(f: Frame): void {
    if (this.#closed) return;
    if (!this.#peer && f.type !== FrameType.HELLO) {
      throw new FrameError(`expected HELLO first, got frame type ${f.type}`);
    }
    switch (f.type) {
      case FrameType.HELLO:
        return this.#onHello(f);
      case FrameType.OPEN:
        return this.#onOpen(f);
      case FrameType.OPEN_OK: {
        if (f.payload.length !== 0) throw new FrameError("OPEN_OK carries no payload");
        const s = this.#localStream(f.stream, "OPEN_OK");
        s?.markOpened();
        return;
      }
      case FrameType.DATA:
        return this.#onDataFrame(f);
      case FrameType.WINDOW: {
        const n = decodeU32(f.payload, "WINDOW");
        if (n === 0) throw new FrameError("WINDOW increment of 0");
        if (f.stream === 0) {
          this.#linkSendCredit += n;
          if (this.#linkSendCredit > 2 ** 31) throw new FrameError("link window overflow");
          const waiters = this.#linkWaiters;
          this.#linkWaiters = [];
          for (const w of waiters) w();
          return;
        }
        this.#anyStream(f.stream, "WINDOW")?.addCredit(n);
        return;
      }
      case FrameType.RESET: {
        if (f.stream === 0) throw new FrameError("RESET on stream 0");
        const { code, reason } = decodeReset(f.payload);
        this.#anyStream(f.stream, "RESET")?.fail(new StreamResetError(code, reason));
        return;
      }
      case FrameType.PING: {
        if (f.stream !== 0 || f.payload.length !== 8) throw new FrameError("malformed PING");
        if (f.flags & FLAG_ACK) {
          const seq = new DataView(f.payload.buffer, f.payload.byteOffset, 8).getUint32(0);
          const now = this.#clock.now();
          if (seq === 0 && this.#pingSentAt) this.#noteRtt(now - this.#pingSentAt);
          this.#pingSentAt = 0;
          const p = this.#pings.get(seq);
          if (p) {
            this.#pings.delete(seq);
            this.#noteRtt(now - p.sentAt);
            p.resolve(now - p.sentAt);
          }
        } else if (isAckProbe(f.payload) && this.#answerSoon) {
          this.#oweProbeAnswer();
        } else {
          this.#send(encodeFrame(FrameType.PING, FLAG_ACK, 0, f.payload.slice()));
        }
        return;
      }
      case FrameType.AUTH:
        return this.#onAuth(f);
      case FrameType.GOAWAY: {
        if (f.stream !== 0) throw new FrameError("GOAWAY on a stream");
        const g = decodeGoAway(f.payload);
        this.#peerGoAway = { code: g.code, reason: g.reason };
        this.#becomeUnusable();
        this.#log.info("peer is going away", { code: resetCodeName(g.code), reason: g.reason });
        if (g.code === ResetCode.VERSION || g.code === ResetCode.PROTOCOL) {
          this.#teardown(
            g.code === ResetCode.VERSION
              ? new ProtocolVersionError(g.reason)
              : new FrameError(`peer reported a protocol error: ${g.reason}`),
          );
          this.#t.destroy();
        }
        return;
      }
    }
  }

  #onHello(f: Frame): void {
    if (this.#peer) throw new FrameError("second HELLO");
    if (f.stream !== 0) throw new FrameError("HELLO on a stream");
    const h = decodeHello(f.payload);
    if (h.version !== PROTOCOL_VERSION) {
      const msg = `protocol version mismatch: peer (${h.software}) speaks v${h.version}, ` +
        `this fluidity ${VERSION} speaks v${PROTOCOL_VERSION}; upgrade the older side`;
      try {
        this.#send(encodeGoAway(0, ResetCode.VERSION, msg));
      } catch { /* ignore */ }
      this.#t.end();
      this.#teardown(new ProtocolVersionError(msg));
      return;
    }
    this.#peer = h;
    this.#linkSendCredit = h.linkWindow;
    if (!this.#o.peerProof) this.#becomeReady();
  }

  #becomeReady(): void {
    this.#ready = true;
    this.#resolveReady(this.#peer!);
    // Round trips for window auto-tuning while the link is still idle: the
    // smallest of a few (the first one meets a peer still warming up).
    const o = this.#o;
    if ((o.linkWindowMax ?? 0) > o.linkWindow || (o.streamWindowMax ?? 0) > o.streamWindow) {
      const sample = (left: number) => {
        if (left > 0 && !this.#closed) this.ping().then(() => sample(left - 1), () => {});
      };
      sample(RTT_SAMPLES);
    }
  }

  /** A challenge to answer, or (ACK) the answer to ours; a failed proof closes the link. */
  #onAuth(f: Frame): void {
    if (f.stream !== 0) throw new FrameError("AUTH on a stream");
    if (f.flags & FLAG_ACK) {
      if (!this.#o.peerProof || this.#ready) throw new FrameError("unexpected AUTH answer");
      const proof = decodeAuthProof(f.payload);
      try {
        this.#o.peerProof.verify(proof);
      } catch (e) {
        const err = e instanceof Error ? e : new Error(String(e));
        this.#protocolError(err, "the peer's identity proof failed", "identity proof rejected");
        return;
      }
      this.#becomeReady();
      return;
    }
    if (!this.#o.proveIdentity) {
      throw new FrameError("AUTH challenge to a side that proves nothing");
    }
    if (this.#proofAnswered) throw new FrameError("second AUTH challenge");
    this.#proofAnswered = true;
    let proof: AuthProof;
    try {
      proof = this.#o.proveIdentity(f.payload);
    } catch (e) {
      throw new FrameError(`bad AUTH challenge: ${(e as Error).message}`);
    }
    this.#send(encodeAuthProof(proof));
  }

  #onOpen(f: Frame): void {
    const id = f.stream;
    const remoteParity = this.#o.initiator ? 0 : 1;
    if (id === 0 || id % 2 !== remoteParity || id <= this.#highestRemoteId) {
      throw new FrameError(`OPEN with invalid or reused stream id ${id}`);
    }
    this.#highestRemoteId = id;
    const target = decodeOpen(f.payload);
    const refuse = (code: ResetCode, reason: string) => {
      // Register briefly so late DATA is accounted, then reset.
      this.#send(encodeReset(id, code, reason));
    };
    if (!this.#o.onStream) return refuse(ResetCode.FORBIDDEN, "this side accepts no streams");
    if (this.#goingAway) return refuse(ResetCode.GOING_AWAY, "server is shutting down");
    if (this.#streams.size >= this.#o.maxStreams) {
      return refuse(ResetCode.LIMIT, `too many streams on this link (max ${this.#o.maxStreams})`);
    }
    const s = new TunnelStream(this, id, target, this.#peer!.streamWindow, false);
    s.okWithData = (f.flags & FLAG_OK_WITH_DATA) !== 0;
    s.lastActive = this.#clock.now();
    this.#streams.set(id, s);
    this.#recv.set(id, this.#recvWindow(this.#o.streamWindow, this.#o.streamWindowMax));
    this.#answerSoon = true; // OPEN_OK or a RESET follows the dial
    this.#o.onStream(s);
  }

  /**
   * Accepts an incoming stream (sends OPEN_OK). When its OPEN allowed it, the
   * OPEN_OK waits for the stream's first frame, up to
   * {@linkcode PROBE_ANSWER_MS}, to leave in the same write.
   */
  accept(s: TunnelStream): void {
    if (this.#closed || s.resetError) return;
    s.markOpened();
    if (!s.okWithData) return this.#sendOpenOk(s);
    this.#okOwed.push(s);
    this.#armAnswerTimer();
  }

  /** Sends `s`'s OPEN_OK if it is still owed, ahead of the frame about to go. */
  #payOpenOk(s: TunnelStream): void {
    if (this.#okOwed.length === 0) return;
    const i = this.#okOwed.indexOf(s);
    if (i < 0) return;
    this.#okOwed.splice(i, 1);
    this.#sendOpenOk(s);
  }

  #sendOpenOk(s: TunnelStream): void {
    this.#send(encodeFrame(FrameType.OPEN_OK, 0, s.id));
  }

  #onDataFrame(f: Frame): void {
    const n = f.payload.length;
    if (n) this.#answerSoon = true;
    const link = this.#linkRecv;
    if ((link.budget -= n) < 0) {
      throw new FrameError(`peer exceeded the link window by ${-link.budget} bytes`);
    }
    const s = this.#anyStream(f.stream, "DATA");
    if (!s) {
      // Stream already gone: drop the bytes, return the link credit.
      if (n) this.#consumed(link, 0, n);
      return;
    }
    if (n) {
      const w = this.#recv.get(s.id);
      const left = w ? (w.budget -= n) : -n;
      if (left < 0) throw new FrameError(`peer exceeded stream ${s.id}'s window by ${-left} bytes`);
      s.lastActive = this.#lastRecv;
      this.#o.onTraffic?.(n, "in");
      s.deliver(f.payload);
    }
    if (f.flags & FLAG_FIN) s.deliverFin();
  }

  /** A stream we opened; protocol error if the id was never used. */
  #localStream(id: number, what: string): TunnelStream | undefined {
    const localParity = this.#o.initiator ? 1 : 0;
    if (id === 0 || id % 2 !== localParity || id >= this.#nextLocalId) {
      throw new FrameError(`${what} for stream ${id}, which this side never opened`);
    }
    return this.#streams.get(id);
  }

  /** A stream of either side; protocol error if never opened, undefined if already closed. */
  #anyStream(id: number, what: string): TunnelStream | undefined {
    if (id === 0) throw new FrameError(`${what} on stream 0`);
    const localParity = this.#o.initiator ? 1 : 0;
    if (id % 2 === localParity) return this.#localStream(id, what);
    if (id > this.#highestRemoteId) {
      throw new FrameError(`${what} for stream ${id}, which was never opened`);
    }
    return this.#streams.get(id);
  }

  /** Every frame leaves here: whatever we send carries the TCP ACK a probe asks for. */
  #send(bytes: Uint8Array, lazy = false): void {
    if (!lazy) this.#probeOwed = false;
    this.#t.write(bytes, lazy);
  }

  /**
   * An ACK probe that came with an OPEN or data is answered only if nothing
   * else leaves within {@linkcode PROBE_ANSWER_MS}: any frame we send
   * acknowledges it. After anything else (a RESET, a bare FIN, a WINDOW) we
   * have nothing to say back, so it is answered at once.
   */
  #oweProbeAnswer(): void {
    this.#probeOwed = true;
    this.#armAnswerTimer();
  }

  /** Owed OPEN_OKs, then (if those did not) the probe's answer, after PROBE_ANSWER_MS. */
  #armAnswerTimer(): void {
    if (this.#answerTimer !== undefined) return;
    this.#answerTimer = this.#clock.setTimeout(() => {
      this.#answerTimer = undefined;
      if (this.#closed) return;
      for (const s of this.#okOwed.splice(0)) {
        if (!s.resetError) this.#sendOpenOk(s);
      }
      if (this.#probeOwed) this.#send(encodeFrame(FrameType.PING, FLAG_ACK, 0, ACK_PROBE_PAYLOAD));
    }, PROBE_ANSWER_MS);
  }

  #sendPing(seq: number, flags: number): void {
    const p = new Uint8Array(8);
    new DataView(p.buffer).setUint32(0, seq);
    this.#send(encodeFrame(FrameType.PING, flags, 0, p));
  }

  #tick(): void {
    if (this.#closed) return;
    const now = this.#clock.now();
    const o = this.#o;
    if (o.keepaliveIntervalMs > 0) {
      if (this.#pingSentAt && now - this.#pingSentAt >= o.keepaliveTimeoutMs) {
        const secs = Math.round((now - this.#pingSentAt) / 100) / 10;
        this.#log.warn("link is dead: keepalive ping unanswered", { seconds: secs });
        this.destroy(new Error(`link is dead: no reply to a keepalive ping within ${secs}s`));
        return;
      }
      if (!this.#pingSentAt && now - this.#lastRecv >= o.keepaliveIntervalMs) {
        this.#pingSentAt = now;
        this.#sendPing(0, 0);
      }
    }
    const idle = o.idleStreamTimeoutMs ?? 0;
    if (idle > 0) {
      for (const s of this.#streams.values()) {
        if (now - s.lastActive >= idle) {
          s.reset(ResetCode.IDLE_TIMEOUT, `no traffic for ${idle / 1000}s`);
        }
      }
    }
  }

  #unusableSaid = false;

  #becomeUnusable(): void {
    if (this.#unusableSaid) return;
    this.#unusableSaid = true;
    this.#resolveUnusable();
    for (const s of [...this.#streams.values()]) s.onLinkUnusable?.();
  }

  #teardown(err?: Error, reason?: string): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) this.#clock.clearInterval(this.#timer);
    if (this.#answerTimer !== undefined) this.#clock.clearTimeout(this.#answerTimer);
    const why = err?.message ?? reason ?? "link closed";
    const helloReceived = this.#peer !== undefined;
    this.#rejectReady(
      err ?? new LinkUnavailableError(`link closed before the peer's hello: ${why}`),
    );
    this.#becomeUnusable();
    for (const s of [...this.#streams.values()]) {
      s.fail(new StreamResetError(ResetCode.LINK_CLOSED, `tunnel link lost: ${why}`));
    }
    this.#streams.clear();
    for (const w of this.#linkWaiters) w();
    this.#linkWaiters = [];
    this.#resolveClosed({ error: err, goAway: this.#peerGoAway, helloReceived });
  }
}
