/** Adapts a `node:net`/`node:tls` socket to the session's {@linkcode Transport}. */
import type { Socket } from "node:net";
import type { Transport } from "./session.ts";
import { gcPacer } from "./gc_pacer.ts";

/** Bytes moved (either way) between young-generation collections (see {@linkcode socketTransport}). */
export const GC_EVERY_BYTES = 4 * 1024 * 1024;

/**
 * Under Deno, each chunk a `node:tls` socket delivers is a small JS object
 * holding a large buffer outside the V8 heap that V8 does not count as
 * memory pressure, so at hundreds of MB/s the young generation is collected
 * too rarely and RSS climbs (measured: a bare node:tls client receiving
 * 1 GiB peaked at 636 MB). When the runtime exposes `gc` (RUNTIME_FLAGS),
 * a minor collection every {@linkcode GC_EVERY_BYTES} moved keeps it flat
 * (139 MB in the same measurement), and CPU too: receiving 256 MiB costs
 * 4-5× the CPU of Deno's own TLS without it and about the same with it
 * (`bench/tls_recv.ts`: fresh buffers are slow to come by when the spent ones
 * are not collected). The send side has the same problem.
 * Every 4 MiB: the server's RSS growth in a 1 GiB upload was 40-43 MB,
 * against 52-59 MB at 8 MiB. Full collections are left to V8 while data
 * flows (forcing one every 64 MiB cost a third of the server's CPU in that
 * upload for ~5 MB less peak RSS) and forced once when the link goes quiet
 * ({@linkcode gcPacer}).
 */
export function socketTransport(sock: Socket): Transport {
  let lastError: Error | undefined;
  const pacer = gcPacer(GC_EVERY_BYTES);
  let corked = false;
  const uncork = () => {
    corked = false;
    sock.uncork();
  };
  sock.on("close", () => pacer.stop());
  sock.setNoDelay(true);
  sock.on("error", (e: Error) => (lastError = e));
  return {
    write(bytes) {
      if (sock.destroyed || !sock.writable) return;
      // Frames written in the same tick leave as one write (one TLS record
      // where they fit): OPEN + the request head, OPEN_OK + the response.
      if (!corked) {
        corked = true;
        sock.cork();
        queueMicrotask(uncork);
      }
      sock.write(bytes);
      pacer.moved(bytes.length);
    },
    end() {
      if (!sock.destroyed) sock.end();
    },
    destroy() {
      sock.destroy();
    },
    onData(cb) {
      sock.on("data", (chunk: Uint8Array) => {
        cb(chunk);
        pacer.moved(chunk.length);
      });
    },
    onClose(cb) {
      sock.on("close", () => cb(lastError));
    },
  };
}
