/**
 * A TCP relay on loopback that holds every chunk for `delayMs` before passing
 * it on, each way: a long network path (round trip 2 × delayMs) for the
 * tunnel link, without touching the machine's network settings. What is in
 * flight is bounded by the link's flow-control windows.
 */
import { closeAll } from "./origins.ts";

export interface DelayRelay {
  /** `127.0.0.1:PORT` to connect to instead of the target. */
  address: string;
  close(): Promise<void>;
}

export function startDelayRelay(target: string, delayMs: number): DelayRelay {
  const [host, port] = [
    target.slice(0, target.lastIndexOf(":")),
    target.slice(target.lastIndexOf(":") + 1),
  ];
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const pumps: Promise<void>[] = [];

  /** `from` → `to`, each chunk released `delayMs` after it was read. */
  const pump = async (from: Deno.Conn, to: Deno.Conn) => {
    const queue: { due: number; data: Uint8Array }[] = [];
    let ended = false;
    let wake: (() => void) | undefined;
    const reading = (async () => {
      try {
        for (;;) {
          const buf = new Uint8Array(64 * 1024);
          const n = await from.read(buf);
          if (n === null) break;
          queue.push({ due: performance.now() + delayMs, data: buf.subarray(0, n) });
          wake?.();
        }
      } catch { /* closed */ }
      ended = true;
      wake?.();
    })();
    try {
      for (;;) {
        const next = queue[0];
        if (!next) {
          if (ended) break;
          await new Promise<void>((r) => (wake = r));
          wake = undefined;
          continue;
        }
        const wait = next.due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        queue.shift();
        for (let off = 0; off < next.data.length;) {
          off += await to.write(next.data.subarray(off));
        }
      }
      await to.closeWrite();
    } catch { /* either side closed */ }
    await reading;
  };

  const accepting = (async () => {
    for await (const client of listener) {
      let server: Deno.TcpConn;
      try {
        server = await Deno.connect({ hostname: host, port: Number(port) });
      } catch {
        client.close();
        continue;
      }
      for (const c of [client, server]) {
        c.setNoDelay(true);
        conns.add(c);
      }
      pumps.push(
        Promise.all([pump(client, server), pump(server, client)]).then(() => {
          conns.delete(client);
          conns.delete(server);
          closeAll(client, [server]);
        }),
      );
    }
  })().catch(() => {});

  return {
    address: `127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    async close() {
      closeAll(listener, conns);
      await accepting;
      await Promise.all(pumps);
    },
  };
}
