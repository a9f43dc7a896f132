/** Adapts a `node:net`/`node:tls` socket to the session's {@linkcode Transport}. */
import type { Socket } from "node:net";
import type { Transport } from "./session.ts";

export function socketTransport(sock: Socket): Transport {
  let lastError: Error | undefined;
  sock.setNoDelay(true);
  sock.on("error", (e: Error) => (lastError = e));
  return {
    write(bytes) {
      if (!sock.destroyed && sock.writable) sock.write(bytes);
    },
    end() {
      if (!sock.destroyed) sock.end();
    },
    destroy() {
      sock.destroy();
    },
    onData(cb) {
      sock.on("data", cb);
    },
    onClose(cb) {
      sock.on("close", () => cb(lastError));
    },
  };
}
