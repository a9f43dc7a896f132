/**
 * Copies one message body from a {@linkcode Reader} to a writer, byte for
 * byte, stopping exactly at its end (Content-Length, chunked with trailers,
 * or end of input). Chunked framing is parsed only to find the end; the
 * bytes are forwarded as received.
 */
import type { BodyFraming } from "./head.ts";
import { HttpError } from "./head.ts";
import type { Reader } from "./reader.ts";
import { bytesToLatin1 } from "./head.ts";

export type Write = (chunk: Uint8Array) => Promise<void>;

/** The body ended before its framing said it would. */
export class TruncatedBodyError extends Error {
  override name = "TruncatedBodyError";
}

const CHUNK_LINE = /^([0-9a-fA-F]{1,15})[ \t]*(;[^\r\n]*)?\r?\n$/;

async function copyLength(reader: Reader, n: number, write: Write): Promise<number> {
  let left = n;
  while (left > 0) {
    const c = await reader.chunk(left);
    if (c === null) throw new TruncatedBodyError(`body ended after ${n - left} of ${n} bytes`);
    await write(c);
    left -= c.length;
  }
  return n;
}

/** Copies the body; returns its size on the wire. */
export async function copyBody(
  reader: Reader,
  framing: BodyFraming,
  write: Write,
  maxTrailerBytes = 64 * 1024,
): Promise<number> {
  switch (framing.kind) {
    case "none":
      return 0;
    case "length":
      return await copyLength(reader, framing.length, write);
    case "close": {
      let total = 0;
      for (let c = await reader.chunk(); c !== null; c = await reader.chunk()) {
        total += c.length;
        await write(c);
      }
      return total;
    }
    case "chunked": {
      let total = 0;
      for (;;) {
        const line = await reader.readLine(4096);
        if (line === null) throw new TruncatedBodyError("chunked body ended before its last chunk");
        const m = CHUNK_LINE.exec(bytesToLatin1(line));
        if (!m) throw new HttpError(400, "invalid chunk size line");
        await write(line);
        total += line.length;
        const size = parseInt(m[1]!, 16);
        if (size === 0) {
          let trailers = 0;
          for (;;) {
            const t = await reader.readLine(maxTrailerBytes);
            if (t === null) throw new TruncatedBodyError("chunked body ended inside its trailers");
            trailers += t.length;
            if (trailers > maxTrailerBytes) throw new HttpError(431, "trailers too large");
            await write(t);
            total += t.length;
            if (t.length <= 2 && (t[0] === 0x0a || (t[0] === 0x0d && t[1] === 0x0a))) return total;
          }
        }
        total += await copyLength(reader, size, write);
        const end = await reader.readLine(2);
        if (end === null) throw new TruncatedBodyError("chunked body ended inside a chunk");
        if (!(end.length === 1 || (end.length === 2 && end[0] === 0x0d))) {
          throw new HttpError(400, "chunk data not followed by CRLF");
        }
        await write(end);
        total += end.length;
      }
    }
  }
}
