import assert from "node:assert/strict";
import { connTransport, LAZY_MS, type TransportConn } from "./conn_transport.ts";
import { Session } from "./session.ts";
import { silentLogger } from "../log/logger.ts";

/** A conn that records writes and never receives, until closed. */
function recordingConn() {
  const writes: Uint8Array[] = [];
  let closedWrite = false;
  let closed = false;
  let wake: ((n: null) => void) | undefined;
  const conn: TransportConn = {
    read: () => new Promise((r) => (wake = r)),
    write: (p) => {
      writes.push(p.slice());
      return Promise.resolve(p.length);
    },
    closeWrite: () => {
      closedWrite = true;
      return Promise.resolve();
    },
    close: () => {
      closed = true;
      wake?.(null);
    },
  };
  return { conn, writes, state: () => ({ closedWrite, closed }) };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

Deno.test("connTransport joins a tick's frames into one write and cuts big ones to whole TLS records", async () => {
  const { conn, writes } = recordingConn();
  const t = connTransport(conn);
  t.onData(() => {});
  t.write(new Uint8Array([1, 2]));
  t.write(new Uint8Array([3]));
  await tick();
  assert.deepEqual(writes.map((w) => [...w]), [[1, 2, 3]]);

  writes.length = 0;
  const sent: number[] = [];
  for (let i = 0; i < 3; i++) {
    const header = new Uint8Array(9).fill(i);
    const payload = new Uint8Array(65536).fill(i + 10);
    t.write(header);
    t.write(payload);
    sent.push(...header, ...payload);
  }
  await tick();
  const sizes = writes.map((w) => w.length);
  assert.ok(sizes.slice(0, -1).every((n) => n % 16384 === 0), `sizes ${sizes}`);
  assert.ok(sizes.every((n) => n <= 128 * 1024), `sizes ${sizes}`);
  const got = writes.flatMap((w) => [...w]);
  assert.equal(got.length, sent.length);
  assert.ok(got.every((b, i) => b === sent[i]), "bytes out of order");
  t.destroy();
});

Deno.test("connTransport end() flushes, then half-closes; destroy() closes and reports once", async () => {
  const { conn, writes, state } = recordingConn();
  const t = connTransport(conn);
  const closes: Array<Error | undefined> = [];
  t.onData(() => {});
  t.onClose((e) => closes.push(e));
  t.write(new Uint8Array([5]));
  t.end();
  t.write(new Uint8Array([6])); // after end: dropped
  await tick();
  assert.deepEqual(writes.map((w) => [...w]), [[5]]);
  assert.deepEqual(state(), { closedWrite: true, closed: false });
  t.destroy();
  t.destroy();
  await tick();
  assert.equal(state().closed, true);
  assert.deepEqual(closes, [undefined]);
});

Deno.test("connTransport reports a failed write as the close error", async () => {
  const { conn } = recordingConn();
  conn.write = () => Promise.reject(new Error("broken pipe"));
  const t = connTransport(conn);
  const closed = new Promise<Error | undefined>((r) => t.onClose(r));
  t.onData(() => {});
  t.write(new Uint8Array([1]));
  assert.match((await closed)?.message ?? "", /broken pipe/);
});

Deno.test("connTransport carries a session over real loopback TCP, 4 MiB both ways", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const a = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const b = await accepted;
  listener.close();
  const base = {
    streamWindow: 256 * 1024,
    linkWindow: 1024 * 1024,
    maxFrameSize: 64 * 1024,
    maxStreams: 10,
    keepaliveIntervalMs: 0,
    keepaliveTimeoutMs: 1000,
    logger: silentLogger(),
  };
  // deno-lint-ignore prefer-const
  let server: Session;
  server = new Session(connTransport(b), {
    ...base,
    initiator: false,
    onStream: (s) => {
      server.accept(s);
      (async () => {
        for (let c = await s.read(); c !== null; c = await s.read()) await s.write(c.slice());
        s.closeWrite();
      })().catch(() => {});
    },
  });
  const client = new Session(connTransport(a), { ...base, initiator: true });
  await client.ready;
  const s = client.open("echo:1");
  const payload = new Uint8Array(4 * 1024 * 1024).map((_, i) => (i * 7) % 256);
  const writing = s.write(payload).then(() => s.closeWrite());
  let n = 0;
  let ok = true;
  for (let c = await s.read(); c !== null; c = await s.read()) {
    for (let i = 0; i < c.length; i++) if (c[i] !== payload[n + i]) ok = false;
    n += c.length;
  }
  await writing;
  assert.equal(n, payload.length);
  assert.ok(ok, "echoed bytes differ");
  client.close();
  server.close();
  await Promise.all([client.closed, server.closed]);
});

Deno.test("connTransport ends every write smaller than a TLS record with the ack probe", async () => {
  const { conn, writes } = recordingConn();
  const probe = new Uint8Array([0xee, 0xee]);
  const t = connTransport(conn, { ackProbe: probe });
  t.onData(() => {});
  t.write(new Uint8Array([1, 2, 3]));
  await tick();
  assert.deepEqual(writes.map((w) => [...w]), [[1, 2, 3, 0xee, 0xee]]);
  writes.length = 0;
  t.write(new Uint8Array(32 * 1024).fill(1));
  await tick();
  assert.deepEqual(writes.map((w) => w.length), [32 * 1024], "a bulk write carries no probe");
  t.destroy();
});

Deno.test("connTransport: a lazy write waits for the next write, or leaves on its own after LAZY_MS", async () => {
  const { conn, writes } = recordingConn();
  const t = connTransport(conn);
  t.onData(() => {});
  t.write(new Uint8Array([5]), true);
  await tick();
  assert.equal(writes.length, 0, "a lazy write alone does not flush at once");
  t.write(new Uint8Array([1, 2]));
  await tick();
  assert.deepEqual(writes.map((w) => [...w]), [[5, 1, 2]], "joined, in order");

  writes.length = 0;
  t.write(new Uint8Array([7]), true);
  await new Promise((r) => setTimeout(r, LAZY_MS + 20));
  assert.deepEqual(writes.map((w) => [...w]), [[7]]);
  t.destroy();
});
