/**
 * Copying bytes between a TCP connection and a tunnel stream, both ways,
 * with half-close. The one place that moves payload bytes on each end.
 */
import { ResetCode } from "./frames.ts";
import { GATHER, StreamResetError, type TunnelStream } from "./stream.ts";
import { connSource } from "../http/reader.ts";

/** The subset of `Deno.Conn` the pipes use (also implemented by buffered wrappers). */
export interface ByteConn {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
}

/** Writes all of `data` to `conn`. */
export async function writeAll(conn: ByteConn, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await conn.write(off === 0 ? data : data.subarray(off));
}

/** conn → stream until EOF (then FIN). Throws on errors of either side. */
export async function copyConnToStream(conn: ByteConn, stream: TunnelStream): Promise<number> {
  const next = connSource(conn);
  let total = 0;
  for (let c = await next(); c !== null; c = await next()) {
    total += c.length;
    await stream.write(c);
  }
  stream.closeWrite();
  return total;
}

/** stream → conn until the peer's FIN (then half-close the conn). */
export async function copyStreamToConn(stream: TunnelStream, conn: ByteConn): Promise<number> {
  let total = 0;
  for (;;) {
    const chunk = await stream.read(GATHER);
    if (chunk === null) break;
    total += chunk.length;
    await writeAll(conn, chunk);
  }
  await conn.closeWrite().catch(() => {});
  return total;
}

/**
 * Pipes both ways until both directions finish. On an error on either side
 * the stream is reset and the conn closed, so nothing hangs. Resolves with
 * the error that ended it, if any.
 */
export async function pipeBoth(
  conn: ByteConn,
  stream: TunnelStream,
): Promise<{ up: number; down: number; error?: Error }> {
  let error: Error | undefined;
  let up = 0;
  let down = 0;
  const fail = (e: unknown) => {
    if (error) return;
    error = e instanceof Error ? e : new Error(String(e));
    if (!(e instanceof StreamResetError)) {
      stream.reset(ResetCode.CONN_RESET, `connection error: ${error.message}`);
    }
    try {
      conn.close();
    } catch { /* already closed */ }
  };
  await Promise.all([
    copyConnToStream(conn, stream).then((n) => (up = n), fail),
    copyStreamToConn(stream, conn).then((n) => (down = n), fail),
  ]);
  if (!error) {
    try {
      conn.close();
    } catch { /* already closed */ }
  }
  return { up, down, error };
}
