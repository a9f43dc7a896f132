import assert from "node:assert/strict";
import { memoryPair } from "./memory_transport.ts";
import { LinkUnavailableError, Session, type SessionOptions } from "./session.ts";
import { StreamResetError, type TunnelStream } from "./stream.ts";
import {
  ACK_PROBE_PAYLOAD,
  encodeFrame,
  encodeHello,
  encodeOpen,
  encodeReset,
  FLAG_ACK,
  FLAG_FIN,
  FLAG_OK_WITH_DATA,
  FrameDecoder,
  FrameType,
  PROTOCOL_VERSION,
  ResetCode,
} from "./frames.ts";
import { silentLogger } from "../log/logger.ts";

const base: Omit<SessionOptions, "initiator"> = {
  streamWindow: 64 * 1024,
  linkWindow: 256 * 1024,
  maxFrameSize: 64 * 1024,
  maxStreams: 100,
  keepaliveIntervalMs: 0,
  keepaliveTimeoutMs: 1000,
  logger: silentLogger(),
};

function pair(onStream?: (s: TunnelStream, server: Session) => void) {
  const [ta, tb] = memoryPair();
  const client = new Session(ta, { ...base, initiator: true });
  // deno-lint-ignore prefer-const
  let server: Session;
  server = new Session(tb, {
    ...base,
    initiator: false,
    onStream: onStream ? (s) => onStream(s, server) : undefined,
  });
  return { client, server, ta, tb };
}

async function readAll(s: TunnelStream): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (let c = await s.read(); c !== null; c = await s.read()) parts.push(c.slice());
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

Deno.test("Session echoes a stream both ways with half-close", async () => {
  const { client, server } = pair((s, srv) => {
    srv.accept(s);
    (async () => {
      const data = await readAll(s);
      await s.write(data);
      s.closeWrite();
    })().catch(() => {});
  });
  await client.ready;
  const s = client.open("example.com:80");
  await s.opened;
  const payload = new Uint8Array(1_000_000).map((_, i) => i % 251);
  const writing = s.write(payload).then(() => s.closeWrite());
  const echoed = await readAll(s);
  await writing;
  assert.deepEqual(echoed, payload);
  await s.done;
  assert.equal(client.streamCount, 0);
  client.close();
  server.close();
  await client.closed;
});

Deno.test("Session: a slow reader does not stall another stream", async () => {
  const { client, server } = pair((s, srv) => {
    srv.accept(s);
    (async () => {
      // Server pushes 2 MB on every stream.
      const chunk = new Uint8Array(16 * 1024);
      for (let i = 0; i < 128; i++) await s.write(chunk);
      s.closeWrite();
    })().catch(() => {});
  });
  await client.ready;
  const slow = client.open("slow:1");
  const fast = client.open("fast:1");
  // Never read `slow`: it must hold at most its window.
  const got = await readAll(fast);
  assert.equal(got.length, 128 * 16 * 1024);
  assert.ok(slow.queued <= base.streamWindow, `slow stream buffered ${slow.queued}`);
  slow.reset(ResetCode.CANCEL, "test done");
  client.close();
  server.close();
});

Deno.test("Session: refusing a stream rejects opened with the reason", async () => {
  const { client, server } = pair((s) => s.reset(ResetCode.REFUSED, "connection refused"));
  await client.ready;
  const s = client.open("nowhere:1");
  await assert.rejects(s.opened, (e: unknown) => {
    assert.ok(e instanceof StreamResetError);
    assert.equal(e.code, ResetCode.REFUSED);
    return true;
  });
  client.close();
  server.close();
});

Deno.test("Session: link loss fails in-flight streams promptly", async () => {
  const { client, server, tb } = pair((s, srv) => srv.accept(s));
  await client.ready;
  const s = client.open("x:1");
  await s.opened;
  const reading = s.read();
  tb.destroy();
  await assert.rejects(reading, StreamResetError);
  const end = await client.closed;
  assert.equal(end.helloReceived, true);
  assert.throws(() => client.open("y:1"), LinkUnavailableError);
  server.close();
});

Deno.test("Session: a version mismatch fails clearly on both sides", async () => {
  const [ta, tb] = memoryPair();
  const client = new Session(ta, { ...base, initiator: true });
  // A fake peer that sends a HELLO with another version.
  const p = new Uint8Array(20);
  const v = new DataView(p.buffer);
  v.setUint32(0, 0x464c4454);
  v.setUint16(4, PROTOCOL_VERSION + 1);
  v.setUint32(8, 65536);
  v.setUint32(12, 65536);
  v.setUint32(16, 65536);
  tb.onData(() => {});
  tb.write(encodeFrame(FrameType.HELLO, 0, 0, p));
  await assert.rejects(client.ready, /protocol version mismatch/);
  const end = await client.closed;
  assert.match(end.error!.message, /upgrade the older side/);
});

Deno.test("Session: garbage bytes close only that link with a protocol error", async () => {
  const { client, server, ta } = pair((s, srv) => srv.accept(s));
  await client.ready;
  await server.ready;
  ta.write(new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"));
  const end = await server.closed;
  assert.ok(end.error, "server link should end with an error");
  await client.closed;
});

Deno.test("Session: DATA for a stream never opened is a protocol error", async () => {
  const { client, server, ta } = pair((s, srv) => srv.accept(s));
  await client.ready;
  await server.ready;
  ta.write(encodeFrame(FrameType.DATA, 0, 99, new Uint8Array(3)));
  const end = await server.closed;
  assert.match(end.error!.message, /never opened/);
  await client.closed;
});

Deno.test("Session: ping measures a round trip", async () => {
  const { client, server } = pair();
  await client.ready;
  const rtt = await client.ping();
  assert.ok(rtt >= 0);
  client.close();
  server.close();
});

Deno.test("Session: go-away refuses new streams but lets open ones finish", async () => {
  const { client, server } = pair((s, srv) => {
    srv.accept(s);
    (async () => {
      await readAll(s);
      await s.write(new TextEncoder().encode("bye"));
      s.closeWrite();
    })().catch(() => {});
  });
  await client.ready;
  const s = client.open("a:1");
  await s.opened;
  server.goAway(ResetCode.GOING_AWAY, "shutting down");
  await new Promise((r) => setTimeout(r, 10));
  assert.throws(() => client.open("b:1"), /going away/);
  s.closeWrite();
  assert.equal(new TextDecoder().decode(await readAll(s)), "bye");
  client.close();
  server.close();
});

Deno.test("Session with peerProof is ready only after the peer's AUTH answer passed", async () => {
  const [ta, tb] = memoryPair();
  const seen: Uint8Array[] = [];
  const nonce = new Uint8Array(32).fill(7);
  const client = new Session(ta, {
    ...base,
    initiator: true,
    peerProof: {
      nonce,
      verify(p) {
        seen.push(p.cert, p.signature);
      },
    },
  });
  const server = new Session(tb, {
    ...base,
    initiator: false,
    proveIdentity: (n) => ({ cert: new Uint8Array([1, 2, 3]), signature: n.slice(0, 4) }),
  });
  await client.ready;
  assert.ok(client.usable);
  assert.deepEqual(seen, [new Uint8Array([1, 2, 3]), new Uint8Array([7, 7, 7, 7])]);
  client.close();
  server.close();
});

Deno.test("Session: a failed proof closes the link with ProofError and opens nothing", async () => {
  const [ta, tb] = memoryPair();
  const client = new Session(ta, {
    ...base,
    initiator: true,
    peerProof: {
      nonce: new Uint8Array(32),
      verify() {
        throw Object.assign(new Error("not signed by the private CA"), { name: "ProofError" });
      },
    },
  });
  const server = new Session(tb, {
    ...base,
    initiator: false,
    proveIdentity: () => ({ cert: new Uint8Array([1]), signature: new Uint8Array([2]) }),
  });
  await assert.rejects(client.ready, /not signed by the private CA/);
  assert.equal(client.usable, false);
  assert.throws(() => client.open("example.com:80"), LinkUnavailableError);
  const end = await server.closed;
  assert.match(end.goAway?.reason ?? "", /identity proof rejected/);
  assert.equal((await client.closed).error?.name, "ProofError");
});

Deno.test("Session: AUTH out of turn is a protocol error", async (t) => {
  const auth = (flags: number, payload: Uint8Array) =>
    encodeFrame(FrameType.AUTH, flags, 0, payload);
  const cases: Array<[string, SessionOptions, Uint8Array, RegExp]> = [
    [
      "an answer nobody asked for",
      { ...base, initiator: true },
      auth(1, new Uint8Array([0, 1, 9, 9])),
      /unexpected AUTH answer/,
    ],
    [
      "a challenge to a side that proves nothing",
      { ...base, initiator: false },
      auth(0, new Uint8Array(32)),
      /proves nothing/,
    ],
    [
      "a challenge of the wrong size",
      {
        ...base,
        initiator: false,
        proveIdentity: (n) => {
          if (n.length !== 32) throw new Error(`AUTH challenge of ${n.length} bytes`);
          return { cert: new Uint8Array([1]), signature: new Uint8Array([1]) };
        },
      },
      auth(0, new Uint8Array(5)),
      /bad AUTH challenge: AUTH challenge of 5 bytes/,
    ],
  ];
  for (const [name, options, frame, re] of cases) {
    await t.step(name, async () => {
      const [ta, tb] = memoryPair();
      const s = new Session(ta, options);
      const peer = new Session(tb, { ...base, initiator: !options.initiator });
      await peer.ready;
      tb.write(frame);
      const end = await s.closed;
      assert.match(end.error?.message ?? "", re);
      peer.close();
    });
  }
});

Deno.test("Session calls each open stream's onLinkUnusable once, on GOAWAY or link loss", async () => {
  const { client, server } = pair((s, srv) => srv.accept(s));
  await client.ready;
  const a = client.open("a:1");
  const b = client.open("b:1");
  await Promise.all([a.opened, b.opened]);
  const calls: string[] = [];
  a.onLinkUnusable = () => calls.push("a");
  b.onLinkUnusable = () => calls.push("b");
  server.goAway(ResetCode.GOING_AWAY, "restarting");
  await client.unusable;
  assert.deepEqual(calls.sort(), ["a", "b"]);
  client.destroy(new Error("gone"));
  assert.deepEqual(calls.sort(), ["a", "b"], "called again at teardown");
  server.close();
});

/**
 * A downloading client whose clock advances by `latency.ms` each time the
 * server writes (a path delay as the client sees it), the server pushing
 * `bytes` on one stream; resolves with the client's link window at the end.
 */
async function tunedDownload(
  opts: {
    linkWindowMax?: number;
    streamWindow?: number;
    streamWindowMax?: number;
    pathMs: number;
    bulkMsPerWrite: number;
  },
  bytes = 4 * 1024 * 1024,
) {
  const clock = {
    t: 0,
    now: () => clock.t,
    setInterval: () => 0,
    clearInterval() {},
    setTimeout: () => 0,
    clearTimeout() {},
  };
  const latency = { ms: opts.pathMs };
  const [ta, tb] = memoryPair();
  const write = tb.write.bind(tb);
  tb.write = (b) => {
    clock.t += latency.ms;
    write(b);
  };
  const client = new Session(ta, {
    ...base,
    streamWindow: opts.streamWindow ?? 8 * 1024 * 1024,
    streamWindowMax: opts.streamWindowMax,
    linkWindowMax: opts.linkWindowMax,
    initiator: true,
    clock,
  });
  const server = new Session(tb, {
    ...base,
    streamWindow: 8 * 1024 * 1024,
    initiator: false,
    onStream: (s) => {
      server.accept(s);
      (async () => {
        const chunk = new Uint8Array(32 * 1024).fill(7);
        for (let sent = 0; sent < bytes; sent += chunk.length) await s.write(chunk);
        s.closeWrite();
      })().catch(() => {});
    },
  });
  await client.ready;
  // Round trips at the path delay, also outlasting the session's own samples.
  for (let i = 0; i < 5; i++) await client.ping();
  const initial = client.linkWindow;
  latency.ms = opts.bulkMsPerWrite;
  const s = client.open("bulk:1");
  let streamWindow = 0;
  let got = 0;
  for (let c = await s.read(); c !== null; c = await s.read()) {
    assert.ok(c.every((b) => b === 7));
    got += c.length;
    streamWindow = Math.max(streamWindow, client.streamWindow(s.id));
  }
  assert.equal(got, bytes);
  const end = {
    initial,
    final: client.linkWindow,
    serverCredit: server.linkCredit(),
    streamWindow,
  };
  client.close();
  server.close();
  await client.closed;
  return end;
}

Deno.test("Session link window auto-tuning: a link that data crosses faster than the window allows grows it, up to the ceiling", async () => {
  // 50 ms path, data arriving with no delay between frames: window-limited.
  const r = await tunedDownload({ linkWindowMax: 1024 * 1024, pathMs: 50, bulkMsPerWrite: 0 });
  assert.equal(r.initial, 256 * 1024);
  assert.equal(r.final, 1024 * 1024);
  // The sender got the extra credit: more than the announced window is granted.
  assert.ok(r.serverCredit > 256 * 1024, `server credit ${r.serverCredit}`);
});

Deno.test("Session link window auto-tuning: slow arrival, a sub-millisecond round trip or no ceiling keep the window", async () => {
  // Each frame takes 100 ms: the sender is slow, not held back by the window.
  const slow = await tunedDownload({ linkWindowMax: 1024 * 1024, pathMs: 50, bulkMsPerWrite: 100 });
  assert.equal(slow.final, 256 * 1024);
  // Loopback: the round trip is under the clock's resolution.
  const lan = await tunedDownload({ linkWindowMax: 1024 * 1024, pathMs: 0, bulkMsPerWrite: 0 });
  assert.equal(lan.final, 256 * 1024);
  // No linkWindowMax: tuning is off.
  const off = await tunedDownload({ pathMs: 50, bulkMsPerWrite: 0 });
  assert.equal(off.final, 256 * 1024);
});

Deno.test("Session stream window auto-tuning: a window-limited stream's window grows to its ceiling, a slow one's does not", async () => {
  const o = { streamWindow: 64 * 1024, streamWindowMax: 512 * 1024, pathMs: 50 };
  const fast = await tunedDownload({ ...o, bulkMsPerWrite: 0 }, 2 * 1024 * 1024);
  assert.equal(fast.streamWindow, 512 * 1024);
  const slow = await tunedDownload({ ...o, bulkMsPerWrite: 100 }, 1024 * 1024);
  assert.equal(slow.streamWindow, 64 * 1024);
});

/**
 * A server session fed raw frames, recording the frame types it writes, on
 * a clock whose one-shot timers run only when the test says so.
 */
function probedServer(onStream?: (s: TunnelStream) => void) {
  let deliver!: (chunk: Uint8Array) => void;
  const written: Array<{ type: number; flags: number; stream: number }> = [];
  const decoder = new FrameDecoder(1 << 20);
  const timers: Array<() => void> = [];
  const server = new Session({
    write: (b) => decoder.push(b, (f) => written.push(f)),
    end() {},
    destroy() {},
    onData: (cb) => (deliver = cb),
    onClose() {},
  }, {
    ...base,
    initiator: false,
    onStream,
    clock: {
      now: () => 0,
      setInterval: () => 0,
      clearInterval() {},
      setTimeout: (fn) => timers.push(fn),
      clearTimeout() {},
    },
  });
  deliver(encodeHello({
    version: PROTOCOL_VERSION,
    streamWindow: 1 << 16,
    linkWindow: 1 << 20,
    maxFrameSize: 1 << 16,
    software: "test",
  }));
  const concat = (...frames: Uint8Array[]) => {
    const out = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
    frames.reduce((off, f) => (out.set(f, off), off + f.length), 0);
    return out;
  };
  const probe = encodeFrame(FrameType.PING, 0, 0, ACK_PROBE_PAYLOAD);
  const pongs = () =>
    written.filter((f) => f.type === FrameType.PING && f.flags === FLAG_ACK).length;
  written.length = 0; // the server's HELLO
  return {
    server,
    written,
    pongs,
    /** Delivers frames as one chunk, ending with an ACK probe. */
    send: (...frames: Uint8Array[]) => deliver(concat(...frames, probe)),
    runTimers: () => timers.splice(0).forEach((fn) => fn()),
  };
}

const GET = new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n");

Deno.test("Session: an ACK probe with an OPEN is answered by the OPEN_OK, not a PONG of its own", () => {
  let opened: TunnelStream | undefined;
  const t = probedServer((s) => (opened = s));
  t.send(encodeOpen(1, "example.com:80"), encodeFrame(FrameType.DATA, 0, 1, GET));
  assert.equal(t.pongs(), 0, "no answer while the dial runs");
  t.server.accept(opened!);
  t.runTimers();
  assert.deepEqual(t.written.map((f) => f.type), [FrameType.OPEN_OK]);
});

Deno.test("Session: an ACK probe with data gets its PONG when nothing else leaves in time", () => {
  const t = probedServer((s) => t.server.accept(s));
  t.send(encodeOpen(1, "example.com:80"));
  t.runTimers(); // the OPEN_OK already answered
  t.written.length = 0;
  t.send(encodeFrame(FrameType.DATA, 0, 1, GET));
  assert.equal(t.pongs(), 0);
  t.runTimers();
  assert.equal(t.pongs(), 1);
});

Deno.test("Session: an ACK probe after a RESET or a bare FIN is answered at once", () => {
  const t = probedServer((s) => t.server.accept(s));
  t.send(encodeOpen(1, "a:1"), encodeOpen(3, "b:1"));
  t.runTimers();
  t.written.length = 0;
  t.send(encodeReset(1, ResetCode.CANCEL, "client done"));
  assert.equal(t.pongs(), 1);
  t.send(encodeFrame(FrameType.DATA, FLAG_FIN, 3));
  assert.equal(t.pongs(), 2);
});

Deno.test("Session: an ordinary PING is answered at once, whatever came with it", () => {
  const t = probedServer((s) => t.server.accept(s));
  t.send(encodeOpen(1, "a:1"), encodeFrame(FrameType.PING, 0, 0, new Uint8Array(8)));
  assert.equal(t.pongs(), 1);
});

Deno.test("Session: an OPEN with FLAG_OK_WITH_DATA gets its OPEN_OK with the first data", async () => {
  let opened: TunnelStream | undefined;
  const t = probedServer((s) => (opened = s));
  t.send(
    encodeOpen(1, "example.com:80", FLAG_OK_WITH_DATA),
    encodeFrame(FrameType.DATA, 0, 1, GET),
  );
  t.server.accept(opened!);
  assert.equal(t.written.length, 0, "the OPEN_OK waits");
  await opened!.write(new TextEncoder().encode("HTTP/1.1 200 OK\r\n\r\n"));
  t.runTimers();
  assert.deepEqual(t.written.map((f) => f.type), [FrameType.OPEN_OK, FrameType.DATA]);
});

Deno.test("Session: an owed OPEN_OK leaves on its own after PROBE_ANSWER_MS, and answers the probe", () => {
  const t = probedServer((s) => t.server.accept(s));
  t.send(encodeOpen(1, "example.com:80", FLAG_OK_WITH_DATA));
  assert.equal(t.written.length, 0);
  t.runTimers();
  assert.deepEqual(t.written.map((f) => f.type), [FrameType.OPEN_OK]);
});

Deno.test("Session: a reset of a stream whose OPEN_OK is owed sends the OPEN_OK first", () => {
  let opened: TunnelStream | undefined;
  const t = probedServer((s) => (opened = s));
  t.send(encodeOpen(1, "example.com:80", FLAG_OK_WITH_DATA));
  t.server.accept(opened!);
  opened!.reset(ResetCode.CONN_RESET, "target reset");
  t.runTimers();
  assert.deepEqual(t.written.map((f) => f.type), [FrameType.OPEN_OK, FrameType.RESET]);
});
