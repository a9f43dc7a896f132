/** A TCP relay on loopback that can stall (stop forwarding without closing), to simulate a dead network. */

export interface Relay {
  address: string;
  /** While stalled, bytes are read and dropped in neither direction: they are held back. */
  stall(on: boolean): void;
  /** Connections accepted so far. */
  readonly accepted: number;
  close(): void;
}

export function startRelay(target: string): Relay {
  const [host, port] = target.split(":");
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  let stalled = false;
  let resume: Array<() => void> = [];
  let accepted = 0;
  const waitUnstalled =
    () => (stalled ? new Promise<void>((r) => resume.push(r)) : Promise.resolve());
  const pipe = async (from: Deno.Conn, to: Deno.Conn) => {
    const buf = new Uint8Array(65536);
    try {
      for (;;) {
        await waitUnstalled();
        const n = await from.read(buf);
        if (n === null) break;
        await waitUnstalled();
        let off = 0;
        while (off < n) off += await to.write(buf.subarray(off, n));
      }
    } catch { /* closed */ }
    try {
      from.close();
    } catch { /* closed */ }
    try {
      to.close();
    } catch { /* closed */ }
  };
  (async () => {
    for await (const c of listener) {
      accepted++;
      let up: Deno.Conn;
      try {
        up = await Deno.connect({ hostname: host!, port: Number(port) });
      } catch {
        c.close();
        continue;
      }
      conns.add(c);
      conns.add(up);
      pipe(c, up);
      pipe(up, c);
    }
  })().catch(() => {});
  return {
    address: `127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    get accepted() {
      return accepted;
    },
    stall(on) {
      stalled = on;
      if (!on) {
        const r = resume;
        resume = [];
        r.forEach((f) => f());
      }
    },
    close() {
      listener.close();
      this.stall(false);
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    },
  };
}
