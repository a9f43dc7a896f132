/** A TCP listener with the accept loop both proxy fronts share. */
import type { Logger } from "../log/logger.ts";
import { formatHostPort, parseHostPort } from "../config/values.ts";

export interface TcpFront {
  /** `host:port` actually bound. */
  address: string;
  /** Stops accepting (open connections are the caller's). */
  stop(): void;
}

/**
 * Listens on `listen` and hands every accepted connection (TCP_NODELAY set,
 * with its `host:port` peer) to `onConn`. Accept errors are logged and
 * retried after a short pause; the loop ends when `stop()` is called.
 */
export function listenTcp(
  listen: string,
  logger: Logger,
  onConn: (conn: Deno.TcpConn, peer: string) => void,
): TcpFront {
  const { host, port } = parseHostPort(listen);
  const listener = Deno.listen({ hostname: host, port, transport: "tcp" });
  const addr = listener.addr as Deno.NetAddr;
  let stopped = false;
  (async () => {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (e) {
        if (stopped) return;
        logger.warn("accept failed", { listen, error: (e as Error).message });
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      try {
        conn.setNoDelay(true);
      } catch { /* already closed by the peer */ }
      const remote = conn.remoteAddr as Deno.NetAddr;
      onConn(conn, formatHostPort(remote.hostname, remote.port));
    }
  })();
  return {
    address: formatHostPort(addr.hostname, addr.port),
    stop() {
      if (stopped) return;
      stopped = true;
      listener.close();
    },
  };
}
