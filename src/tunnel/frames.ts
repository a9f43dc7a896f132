/**
 * The link's binary frame format. Every frame is a 9-byte header followed by
 * its payload:
 *
 * ```
 * 0        3      4       5                9
 * | length | type | flags | stream id (BE) | payload (length bytes) |
 *   u24 BE   u8     u8      u32
 * ```
 *
 * Stream 0 is the link itself (HELLO, PING, GOAWAY, link-level WINDOW). The
 * decoder treats every byte as hostile: unknown types, oversized lengths and
 * malformed payloads throw {@linkcode FrameError}, which closes only the link
 * the bytes came from.
 */

export const HEADER_SIZE = 9;
/** The largest length the u24 field can carry. */
export const MAX_FRAME_LENGTH = 0xff_ffff;
/** Protocol magic at the start of HELLO: "FLDT". */
export const MAGIC = 0x464c4454;
/** Bumped on any incompatible change; HELLO carries it so old and new binaries fail clearly. */
export const PROTOCOL_VERSION = 2;

export const FrameType = {
  HELLO: 0,
  OPEN: 1,
  OPEN_OK: 2,
  DATA: 3,
  WINDOW: 4,
  RESET: 5,
  PING: 6,
  GOAWAY: 7,
  /** The agent's challenge (a nonce) and, with ACK, the server's proof of identity. */
  AUTH: 8,
} as const;
export type FrameType = typeof FrameType[keyof typeof FrameType];

/**
 * The payload of the agent's ACK probe: a PING that matches no ping of its
 * own, which the server answers only when it sends nothing else soon
 * (src/tunnel/session.ts, docs/protocol.md "Nagle").
 */
export const ACK_PROBE_PAYLOAD: Uint8Array = new Uint8Array(8).fill(0xff);

/** Whether a PING payload is {@linkcode ACK_PROBE_PAYLOAD}. */
export function isAckProbe(payload: Uint8Array): boolean {
  return payload.length === ACK_PROBE_PAYLOAD.length &&
    payload.every((b, i) => b === ACK_PROBE_PAYLOAD[i]);
}

export const FLAG_FIN = 0x1;
export const FLAG_ACK = 0x1;
/**
 * On OPEN: the opener does not wait for OPEN_OK before it reads (a plain
 * HTTP request, not a CONNECT), so the peer may send it with the stream's
 * first frame instead of in a write of its own. Peers that do not know the
 * flag ignore it and answer at once.
 */
export const FLAG_OK_WITH_DATA = 0x1;

/** Why a stream was reset or a link went away. The agent maps these to HTTP errors. */
export const ResetCode = {
  CANCEL: 0,
  REFUSED: 1,
  UNREACHABLE: 2,
  TIMEOUT: 3,
  DNS: 4,
  FORBIDDEN: 5,
  BREAKER_OPEN: 6,
  CONN_RESET: 7,
  PROTOCOL: 8,
  INTERNAL: 9,
  LIMIT: 10,
  GOING_AWAY: 11,
  IDLE_TIMEOUT: 12,
  LINK_CLOSED: 13,
  VERSION: 14,
} as const;
export type ResetCode = typeof ResetCode[keyof typeof ResetCode];

const RESET_NAMES = Object.fromEntries(
  Object.entries(ResetCode).map(([k, v]) => [v, k.toLowerCase().replaceAll("_", "-")]),
) as Record<number, string>;

/** `refused`, `breaker-open`, … for logs and the `Fluidity-Error` header. */
export function resetCodeName(code: number): string {
  return RESET_NAMES[code] ?? `unknown-${code}`;
}

/** Thrown for bytes that are not a valid frame; the link is closed. */
export class FrameError extends Error {
  override name = "FrameError";
}

export interface Frame {
  type: FrameType;
  flags: number;
  stream: number;
  payload: Uint8Array;
}

const MAX_TARGET = 1024;
const MAX_REASON = 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

function writeHeader(
  out: Uint8Array,
  type: FrameType,
  flags: number,
  stream: number,
  len: number,
): void {
  if (len > MAX_FRAME_LENGTH) throw new RangeError(`frame payload of ${len} bytes is too large`);
  out[0] = len >>> 16;
  out[1] = (len >>> 8) & 0xff;
  out[2] = len & 0xff;
  out[3] = type;
  out[4] = flags;
  out[5] = stream >>> 24;
  out[6] = (stream >>> 16) & 0xff;
  out[7] = (stream >>> 8) & 0xff;
  out[8] = stream & 0xff;
}

/** Encodes one frame (header and payload in one buffer). */
export function encodeFrame(
  type: FrameType,
  flags: number,
  stream: number,
  payload?: Uint8Array,
): Uint8Array {
  const len = payload?.length ?? 0;
  const out = new Uint8Array(HEADER_SIZE + len);
  writeHeader(out, type, flags, stream, len);
  if (payload && len) out.set(payload, HEADER_SIZE);
  return out;
}

/** Encodes only the 9-byte header of a frame whose payload is written separately. */
export function encodeFrameHeader(
  type: FrameType,
  flags: number,
  stream: number,
  length: number,
): Uint8Array {
  const out = new Uint8Array(HEADER_SIZE);
  writeHeader(out, type, flags, stream, length);
  return out;
}

/** Settings each side announces in HELLO: its receive limits. */
export interface Hello {
  version: number;
  streamWindow: number;
  linkWindow: number;
  maxFrameSize: number;
  /** Free text: software and version, for logs. */
  software: string;
}

export function encodeHello(h: Hello): Uint8Array {
  const sw = encoder.encode(h.software.slice(0, 200));
  const p = new Uint8Array(20 + sw.length);
  const v = new DataView(p.buffer);
  v.setUint32(0, MAGIC);
  v.setUint16(4, h.version);
  v.setUint16(6, 0);
  v.setUint32(8, h.streamWindow);
  v.setUint32(12, h.linkWindow);
  v.setUint32(16, h.maxFrameSize);
  p.set(sw, 20);
  return encodeFrame(FrameType.HELLO, 0, 0, p);
}

export function decodeHello(payload: Uint8Array): Hello {
  if (payload.length < 20) throw new FrameError(`HELLO of ${payload.length} bytes is too short`);
  const v = view(payload);
  if (v.getUint32(0) !== MAGIC) throw new FrameError("peer is not a Fluidity endpoint (bad magic)");
  const h: Hello = {
    version: v.getUint16(4),
    streamWindow: v.getUint32(8),
    linkWindow: v.getUint32(12),
    maxFrameSize: v.getUint32(16),
    software: utf8(payload.subarray(20), "HELLO software"),
  };
  if (h.streamWindow < 1024 || h.linkWindow < 1024 || h.maxFrameSize < 1024) {
    throw new FrameError("HELLO announces windows or frame size below 1024 bytes");
  }
  return h;
}

export function encodeOpen(stream: number, target: string, flags = 0): Uint8Array {
  return encodeFrame(FrameType.OPEN, flags, stream, encoder.encode(target));
}

export function decodeOpen(payload: Uint8Array): string {
  if (payload.length === 0 || payload.length > MAX_TARGET) {
    throw new FrameError(`OPEN target of ${payload.length} bytes is out of range 1-${MAX_TARGET}`);
  }
  return utf8(payload, "OPEN target");
}

export function encodeU32(type: FrameType, stream: number, n: number, flags = 0): Uint8Array {
  const p = new Uint8Array(4);
  view(p).setUint32(0, n);
  return encodeFrame(type, flags, stream, p);
}

export function decodeU32(payload: Uint8Array, what: string): number {
  if (payload.length !== 4) {
    throw new FrameError(`${what} payload must be 4 bytes, got ${payload.length}`);
  }
  return view(payload).getUint32(0);
}

export function encodeReset(stream: number, code: ResetCode, reason: string): Uint8Array {
  const r = encoder.encode(reason.slice(0, MAX_REASON / 4));
  const p = new Uint8Array(1 + r.length);
  p[0] = code;
  p.set(r, 1);
  return encodeFrame(FrameType.RESET, 0, stream, p);
}

export function decodeReset(payload: Uint8Array): { code: number; reason: string } {
  if (payload.length < 1 || payload.length > 1 + MAX_REASON) {
    throw new FrameError(`RESET payload of ${payload.length} bytes is out of range`);
  }
  return { code: payload[0]!, reason: utf8(payload.subarray(1), "RESET reason") };
}

export function encodeGoAway(lastStream: number, code: ResetCode, reason: string): Uint8Array {
  const r = encoder.encode(reason.slice(0, MAX_REASON / 4));
  const p = new Uint8Array(5 + r.length);
  view(p).setUint32(0, lastStream);
  p[4] = code;
  p.set(r, 5);
  return encodeFrame(FrameType.GOAWAY, 0, 0, p);
}

export function decodeGoAway(
  payload: Uint8Array,
): { lastStream: number; code: number; reason: string } {
  if (payload.length < 5 || payload.length > 5 + MAX_REASON) {
    throw new FrameError(`GOAWAY payload of ${payload.length} bytes is out of range`);
  }
  return {
    lastStream: view(payload).getUint32(0),
    code: payload[4]!,
    reason: utf8(payload.subarray(5), "GOAWAY reason"),
  };
}

/** Size of the agent's AUTH challenge. */
export const AUTH_NONCE_SIZE = 32;
const MAX_AUTH_CERT = 16 * 1024;

/** The server's AUTH answer: its certificate (DER) and its signature over the challenge. */
export interface AuthProof {
  cert: Uint8Array;
  signature: Uint8Array;
}

export function encodeAuthProof(p: AuthProof): Uint8Array {
  if (p.cert.length > MAX_AUTH_CERT) throw new RangeError("certificate too large for AUTH");
  const out = new Uint8Array(2 + p.cert.length + p.signature.length);
  view(out).setUint16(0, p.cert.length);
  out.set(p.cert, 2);
  out.set(p.signature, 2 + p.cert.length);
  return encodeFrame(FrameType.AUTH, FLAG_ACK, 0, out);
}

export function decodeAuthProof(payload: Uint8Array): AuthProof {
  const n = payload.length >= 2 ? view(payload).getUint16(0) : -1;
  if (n <= 0 || n > MAX_AUTH_CERT || payload.length <= 2 + n || payload.length > 2 + n + 1024) {
    throw new FrameError(`malformed AUTH proof of ${payload.length} bytes`);
  }
  return { cert: payload.subarray(2, 2 + n), signature: payload.subarray(2 + n) };
}

function view(p: Uint8Array): DataView {
  return new DataView(p.buffer, p.byteOffset, p.byteLength);
}

function utf8(bytes: Uint8Array, what: string): string {
  try {
    return decoder.decode(bytes);
  } catch {
    throw new FrameError(`${what} is not valid UTF-8`);
  }
}

/**
 * Incremental decoder: push chunks as they arrive, get whole frames back.
 * Payloads are zero-copy views when a frame lies inside one chunk. Memory is
 * bounded by `maxFrameSize` plus one chunk.
 */
export interface FrameDecoderOptions {
  /**
   * Deliver a DATA frame that spans several chunks piece by piece, as views
   * into the chunks, instead of copying it into one buffer first. Each piece
   * is a DATA frame of the same stream; FIN comes with the last piece only.
   * Byte for byte the same stream contents, without the copy.
   */
  streamData?: boolean;
}

export class FrameDecoder {
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  readonly #maxFrameSize: number;
  readonly #streamData: boolean;
  /** A DATA frame whose payload is being delivered in pieces. */
  #partial: { stream: number; flags: number; left: number } | undefined;

  constructor(maxFrameSize: number, options: FrameDecoderOptions = {}) {
    this.#maxFrameSize = maxFrameSize;
    this.#streamData = options.streamData ?? false;
  }

  /** Bytes held waiting for the rest of a frame. */
  get buffered(): number {
    return this.#buffered;
  }

  /** Adds a chunk and calls `onFrame` for every complete frame; throws FrameError on bad input. */
  push(chunk: Uint8Array, onFrame: (f: Frame) => void): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    for (;;) {
      const p = this.#partial;
      if (p) {
        while (p.left > 0 && this.#buffered > 0) {
          const c = this.#chunks[0]!;
          const take = Math.min(c.length, p.left);
          const piece = c.subarray(0, take);
          if (take === c.length) this.#chunks.shift();
          else this.#chunks[0] = c.subarray(take);
          this.#buffered -= take;
          p.left -= take;
          onFrame({
            type: FrameType.DATA,
            flags: p.left === 0 ? p.flags : p.flags & ~FLAG_FIN,
            stream: p.stream,
            payload: piece,
          });
        }
        if (p.left > 0) return;
        this.#partial = undefined;
      }
      if (this.#buffered < HEADER_SIZE) return;
      let head = this.#chunks[0]!;
      if (head.length < HEADER_SIZE) head = this.#coalesce(HEADER_SIZE);
      const len = (head[0]! << 16) | (head[1]! << 8) | head[2]!;
      const type = head[3]!;
      if (type > FrameType.AUTH) throw new FrameError(`unknown frame type ${type}`);
      if (len > this.#maxFrameSize) {
        throw new FrameError(`frame of ${len} bytes exceeds the limit of ${this.#maxFrameSize}`);
      }
      const total = HEADER_SIZE + len;
      const flags = head[4]!;
      const stream = ((head[5]! << 24) >>> 0) + ((head[6]! << 16) | (head[7]! << 8) | head[8]!);
      if (head.length < total && this.#streamData && type === FrameType.DATA) {
        // Consume the header now; the payload follows in pieces as it arrives.
        if (head.length === HEADER_SIZE) this.#chunks.shift();
        else this.#chunks[0] = head.subarray(HEADER_SIZE);
        this.#buffered -= HEADER_SIZE;
        this.#partial = { stream, flags, left: len };
        continue;
      }
      if (this.#buffered < total) return;
      if (head.length < total) head = this.#coalesce(total);
      const payload = head.subarray(HEADER_SIZE, total);
      if (head.length === total) this.#chunks.shift();
      else this.#chunks[0] = head.subarray(total);
      this.#buffered -= total;
      onFrame({ type: type as FrameType, flags, stream, payload });
    }
  }

  /** Joins leading chunks so that the first holds at least `n` bytes. */
  #coalesce(n: number): Uint8Array {
    const out = new Uint8Array(Math.max(n, 0));
    let off = 0;
    while (off < n) {
      const c = this.#chunks[0]!;
      const take = Math.min(c.length, n - off);
      out.set(c.subarray(0, take), off);
      off += take;
      if (take === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(take);
    }
    this.#chunks.unshift(out);
    return out;
  }
}
