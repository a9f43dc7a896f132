/** Adapts a `node:net`/`node:tls` socket to the session's {@linkcode Transport}. */
import type { Socket } from "node:net";
import type { Transport } from "./session.ts";

type Gc = (options?: { type?: "minor" | "major"; execution?: "sync" | "async" }) => void;

/** Bytes moved (either way) between young-generation collections (see {@linkcode socketTransport}). */
export const GC_EVERY_BYTES = 8 * 1024 * 1024;

/**
 * Under Deno, each chunk a `node:tls` socket delivers is a small JS object
 * holding a large buffer outside the V8 heap that V8 does not count as
 * memory pressure, so at hundreds of MB/s the young generation is collected
 * too rarely and RSS climbs (measured: a bare node:tls client receiving
 * 1 GiB peaked at 636 MB). When the runtime exposes `gc` (RUNTIME_FLAGS),
 * a minor collection every {@linkcode GC_EVERY_BYTES} moved keeps it flat
 * (139 MB in the same measurement). The send side has the same problem.
 */
export function socketTransport(sock: Socket): Transport {
  let lastError: Error | undefined;
  const gc = (globalThis as { gc?: Gc }).gc;
  let sinceGc = 0;
  let minors = 0;
  let corked = false;
  const uncork = () => {
    corked = false;
    sock.uncork();
  };
  // Chunks that wait in a stream's window survive into the old generation:
  // every 8th collection is a full one (a few ms on this small heap).
  let moved = 0; // since the last full collection
  let movedAtTick = 0;
  const collect = (n: number) => {
    if (!gc) return;
    moved += n;
    if ((sinceGc += n) < GC_EVERY_BYTES) return;
    sinceGc = 0;
    const major = ++minors % 8 === 0;
    if (major) moved = 0;
    gc({ type: major ? "major" : "minor" });
  };
  // When traffic stops after a burst, one full collection gives the memory
  // of that burst back, instead of holding it until the next one.
  const idleCheck = gc
    ? setInterval(() => {
      if (moved > 0 && moved === movedAtTick) {
        moved = 0;
        gc({ type: "major" });
      }
      movedAtTick = moved;
    }, 500)
    : undefined;
  if (idleCheck !== undefined) Deno.unrefTimer(idleCheck as unknown as number);
  sock.on("close", () => clearInterval(idleCheck));
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
      collect(bytes.length);
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
        collect(chunk.length);
      });
    },
    onClose(cb) {
      sock.on("close", () => cb(lastError));
    },
  };
}
