/**
 * A pull reader over any chunk source (a TCP connection or a tunnel stream)
 * with push-back, bounded head and line reads. All HTTP parsing reads
 * through it, so every limit is enforced in one place.
 */

/** A head or line longer than allowed. */
export class TooLargeError extends Error {
  override name = "TooLargeError";
}

export type ChunkSource = () => Promise<Uint8Array | null>;

/** Read sizes of {@linkcode connSource}: the first read, and the most one read asks for. */
export interface ReadSizes {
  min: number;
  max: number;
}

const DEFAULT_SIZES: ReadSizes = { min: 4 * 1024, max: 64 * 1024 };

/**
 * Chunk source over a `Deno.Conn`-like reader. Each read lands in one
 * scratch buffer of the connection and leaves as an exact-size copy: a chunk
 * costs what was read (not the up-to-64 KiB asked for, zero-filled), and
 * nothing larger than its own bytes stays alive while it waits in a queue
 * (views into shared slabs kept whole slabs alive: 200 concurrent downloads
 * held hundreds of MB). The scratch starts at `min`, so thousands of idle
 * connections with a read pending cost little, grows ×4 while reads fill it
 * (bulk transfers read `max` at a time) and shrinks when they do not.
 */
export function connSource(
  conn: { read(p: Uint8Array): Promise<number | null> },
  sizes: ReadSizes = DEFAULT_SIZES,
): ChunkSource {
  let scratch = new Uint8Array(sizes.min);
  return async () => {
    const n = await conn.read(scratch);
    if (n === null) return null;
    const chunk = scratch.slice(0, n);
    if (n === scratch.length && n < sizes.max) {
      scratch = new Uint8Array(Math.min(sizes.max, n * 4));
    } else if (n < scratch.length / 8 && scratch.length > sizes.min) {
      scratch = new Uint8Array(Math.max(sizes.min, scratch.length / 4));
    }
    return chunk;
  };
}

export class Reader {
  readonly #source: ChunkSource;
  #pending: Uint8Array[] = [];
  #eof = false;

  constructor(source: ChunkSource) {
    this.#source = source;
  }

  /** True once the source ended and nothing is pushed back. */
  get ended(): boolean {
    return this.#eof && this.#pending.length === 0;
  }

  /** Bytes already read from the source and not consumed. */
  get buffered(): number {
    return this.#pending.reduce((n, c) => n + c.length, 0);
  }

  /** Puts bytes back to be read first. */
  unshift(chunk: Uint8Array): void {
    if (chunk.length) this.#pending.unshift(chunk);
  }

  /** The next chunk (at most `max` bytes), or null at end of input. */
  async chunk(max = Infinity): Promise<Uint8Array | null> {
    let c = this.#pending.shift();
    while (!c || c.length === 0) {
      if (this.#eof) return null;
      const got = await this.#source();
      if (got === null) {
        this.#eof = true;
        return null;
      }
      c = got;
    }
    if (c.length > max) {
      this.#pending.unshift(c.subarray(max));
      return c.subarray(0, max);
    }
    return c;
  }

  /**
   * Reads up to and including the blank line that ends an HTTP head (CRLF
   * CRLF, or LF LF). Returns null on end of input before any byte; throws
   * {@linkcode TooLargeError} past `limit` bytes and `Error` on a truncated head.
   */
  async readHead(limit: number): Promise<Uint8Array | null> {
    const parts: Uint8Array[] = [];
    let size = 0;
    let prev = -1; // last byte of the previous part, and the one before it
    let prev2 = -1;
    let prev3 = -1;
    for (;;) {
      const c = await this.chunk();
      if (c === null) {
        if (size === 0) return null;
        throw new Error("connection closed in the middle of a request head");
      }
      // Scan for \n\n or \n\r\n
      let end = -1;
      for (let i = 0; i < c.length; i++) {
        if (c[i] !== 0x0a) continue;
        const b1 = i >= 1 ? c[i - 1]! : prev;
        const b2 = i >= 2 ? c[i - 2]! : i === 1 ? prev : prev2;
        const b3 = i >= 3 ? c[i - 3]! : i === 2 ? prev : i === 1 ? prev2 : prev3;
        if (b1 === 0x0a || (b1 === 0x0d && b2 === 0x0a && b3 !== -2)) {
          end = i + 1;
          break;
        }
      }
      if (end >= 0) {
        if (size + end > limit) throw new TooLargeError(`head exceeds ${limit} bytes`);
        parts.push(c.subarray(0, end));
        this.unshift(c.subarray(end));
        return concat(parts, size + end);
      }
      size += c.length;
      if (size > limit) throw new TooLargeError(`head exceeds ${limit} bytes`);
      parts.push(c);
      prev3 = c.length >= 3 ? c[c.length - 3]! : c.length === 2 ? prev : prev2;
      prev2 = c.length >= 2 ? c[c.length - 2]! : prev;
      prev = c[c.length - 1]!;
    }
  }

  /** One line including its LF; null at end of input before any byte. */
  async readLine(limit: number): Promise<Uint8Array | null> {
    const parts: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const c = await this.chunk();
      if (c === null) {
        if (size === 0) return null;
        throw new Error("input ended in the middle of a line");
      }
      const i = c.indexOf(0x0a);
      if (i >= 0) {
        if (size + i + 1 > limit) throw new TooLargeError(`line exceeds ${limit} bytes`);
        parts.push(c.subarray(0, i + 1));
        this.unshift(c.subarray(i + 1));
        return concat(parts, size + i + 1);
      }
      size += c.length;
      if (size > limit) throw new TooLargeError(`line exceeds ${limit} bytes`);
      parts.push(c);
    }
  }
}

export function concat(parts: Uint8Array[], total?: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(total ?? parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
