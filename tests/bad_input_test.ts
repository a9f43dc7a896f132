/**
 * The bad-input corpus: malformed requests at the agent's proxy port and
 * malformed links at the server's mTLS port, through real `fluidity agent`
 * and `fluidity server` processes. Each case is answered with an exact
 * status line or a close, and only its own connection or link suffers: a
 * well-behaved client keeps fetching through the proxy the whole time and
 * must never fail.
 */
import assert from "node:assert/strict";
import * as tls from "node:tls";
import { Buffer } from "node:buffer";
import { startTunnel, type Tunnel } from "./helpers/tunnel.ts";
import { type Origin, type RawOrigin, startHttpOrigin, startRawOrigin } from "./helpers/origins.ts";
import {
  encodeFrame,
  encodeGoAway,
  encodeHello,
  encodeOpen,
  encodeReset,
  encodeU32,
  type Frame,
  FrameDecoder,
  FrameType,
  PROTOCOL_VERSION,
  ResetCode,
} from "../src/tunnel/frames.ts";

const latin1 = new TextDecoder("latin1");
const bytes = (s: string) => new Uint8Array([...s].map((c) => c.charCodeAt(0)));
const hostPort = (addr: string) => {
  const [h, p] = addr.replace(/^http:\/\//, "").split(":");
  return { hostname: h!, port: Number(p) };
};

// ---- the well-behaved client ----

interface GoodClient {
  ok: number;
  /** Still looping (not past its iteration cap). */
  running: boolean;
  failures: string[];
  stop(): Promise<void>;
}

/** GETs through the proxy in a loop (at most `max`), until stopped. */
function startGoodClient(proxyUrl: string, origin: Origin, max = 1_000_000): GoodClient {
  const client = Deno.createHttpClient({ proxy: { url: proxyUrl } });
  const state = { ok: 0, failures: [] as string[], stopped: false };
  const loop = (async () => {
    for (let i = 0; i < max && !state.stopped; i++) {
      try {
        const res = await fetch(`${origin.url}/bytes?n=4096&i=${i}`, {
          client,
          signal: AbortSignal.timeout(10_000),
        });
        const body = new Uint8Array(await res.arrayBuffer());
        if (res.status !== 200 || body.length !== 4096 || body[4095] !== 4095 % 251) {
          state.failures.push(`#${i}: status ${res.status}, ${body.length} bytes`);
        } else state.ok++;
      } catch (e) {
        state.failures.push(`#${i}: ${(e as Error).message}`);
      }
    }
  })();
  return {
    get ok() {
      return state.ok;
    },
    get failures() {
      return state.failures;
    },
    get running() {
      return !state.stopped && state.ok + state.failures.length < max;
    },
    async stop() {
      state.stopped = true;
      await loop;
      client.close();
    },
  };
}

// ---- raw exchanges with the proxy ----

interface RawResult {
  text: string;
  /** The proxy closed the connection (EOF or reset) before our timeout. */
  closed: boolean;
  ms: number;
}

/** Writes `parts` (strings are latin1) and reads until the proxy closes, or `timeoutMs`. */
async function raw(
  addr: string,
  parts: Array<string | Uint8Array>,
  o: { timeoutMs?: number; closeWrite?: boolean } = {},
): Promise<RawResult> {
  const start = performance.now();
  const conn = await Deno.connect(hostPort(addr));
  let timedOut = false;
  const t = setTimeout(() => {
    timedOut = true;
    conn.close();
  }, o.timeoutMs ?? 10_000);
  const reading = (async () => {
    let text = "";
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      text += latin1.decode(buf.subarray(0, n));
    }
    return text;
  })();
  for (const p of parts) {
    await conn.write(typeof p === "string" ? bytes(p) : p).catch(() => 0);
  }
  if (o.closeWrite) await conn.closeWrite().catch(() => {});
  const text = await reading;
  clearTimeout(t);
  if (!timedOut) {
    try {
      conn.close();
    } catch { /* closed */ }
  }
  return { text, closed: !timedOut, ms: performance.now() - start };
}

const statusLine = (r: RawResult) => r.text.split("\r\n")[0] ?? "";

// ---- raw links to the server ----

interface LinkResult {
  frames: Frame[];
  goAway?: { code: number; reason: string };
  closed: boolean;
  error?: string;
}

/**
 * Opens an mTLS link with the agent's certificate and writes `parts`
 * (then ends our side if `end`); collects the server's frames until it
 * closes the link or `timeoutMs`.
 */
function rawLink(
  t: Tunnel,
  parts: Uint8Array[],
  o: { end?: boolean; timeoutMs?: number; until?: (frames: Frame[]) => boolean } = {},
): Promise<LinkResult> {
  const { hostname, port } = hostPort(t.serverAddress);
  return new Promise((resolve) => {
    const frames: Frame[] = [];
    const decoder = new FrameDecoder(16 * 1024 * 1024);
    let error: string | undefined;
    const sock = tls.connect({
      host: hostname,
      port,
      servername: "fluidity-server",
      ca: [t.pki.ca.certPem],
      cert: t.pki.agent.certPem,
      key: t.pki.agent.keyPem,
      minVersion: "TLSv1.3",
    });
    const timer = setTimeout(() => finish(false), o.timeoutMs ?? 10_000);
    let done = false;
    function finish(closed: boolean) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      const g = frames.find((f) => f.type === FrameType.GOAWAY);
      resolve({
        frames,
        closed,
        error,
        goAway: g
          ? {
            code: g.payload[4]!,
            reason: new TextDecoder().decode(g.payload.subarray(5)),
          }
          : undefined,
      });
    }
    sock.on("secureConnect", () => {
      for (const p of parts) sock.write(p);
      if (o.end) sock.end();
    });
    sock.on("data", (c: Buffer) => {
      try {
        decoder.push(new Uint8Array(c), (f) => frames.push({ ...f, payload: f.payload.slice() }));
        if (o.until?.(frames)) finish(false);
      } catch (e) {
        error = String(e);
      }
    });
    sock.on("error", (e: Error) => (error ??= e.message));
    sock.on("close", () => finish(true));
  });
}

const hello = (version = PROTOCOL_VERSION) =>
  encodeHello({
    version,
    streamWindow: 256 * 1024,
    linkWindow: 1024 * 1024,
    maxFrameSize: 64 * 1024,
    software: "bad-input-test",
  });

function frameWith(type: number, stream: number, payload: Uint8Array, length?: number) {
  const f = encodeFrame(FrameType.DATA, 0, stream, payload);
  f[3] = type;
  if (length !== undefined) {
    f[0] = length >>> 16;
    f[1] = (length >>> 8) & 0xff;
    f[2] = length & 0xff;
  }
  return f;
}

// ---- the corpus ----

interface ProxyCase {
  name: string;
  send: Array<string | Uint8Array>;
  /**
   * Exact status line, or null: the client went away, so the proxy just
   * closes (an error response before the close is tolerated).
   */
  status: string | null;
  /** Also expected in the response. */
  match?: RegExp;
  closeWrite?: boolean;
}

function proxyCases(origin: Origin, raw: RawOrigin, closedPort: number): ProxyCase[] {
  const o = new URL(origin.url).host; // 127.0.0.1:PORT
  const r = new URL(raw.url).host;
  const B400 = "HTTP/1.1 400 Bad Request";
  const get = (extra: string) => `GET http://${o}/echo HTTP/1.1\r\nHost: ${o}\r\n${extra}\r\n`;
  const post = (extra: string, body = "") =>
    `POST http://${o}/sink HTTP/1.1\r\nHost: ${o}\r\n${extra}\r\n${body}`;
  return [
    { name: "request line without a version", send: [`GET http://${o}/\r\n\r\n`], status: B400 },
    { name: "HTTP/0.9 style request", send: ["GET /\r\n\r\n"], status: B400 },
    {
      name: "request line with extra spaces",
      send: [`GET  http://${o}/ HTTP/1.1\r\n\r\n`],
      status: B400,
      match: /malformed request line/,
    },
    {
      name: "request line with a trailing space",
      send: [`GET http://${o}/ HTTP/1.1 \r\n\r\n`],
      status: B400,
    },
    { name: "request line with tabs", send: [`GET\thttp://${o}/\tHTTP/1.1\r\n\r\n`], status: B400 },
    {
      name: "garbage characters in the method",
      send: [`G@T http://${o}/ HTTP/1.1\r\n\r\n`],
      status: B400,
      match: /invalid method/,
    },
    {
      name: "NUL in the method",
      send: [`GE\x00T http://${o}/ HTTP/1.1\r\n\r\n`],
      status: B400,
    },
    {
      name: "lowercase HTTP version",
      send: [`GET http://${o}/ http/1.1\r\n\r\n`],
      status: B400,
      match: /invalid HTTP version/,
    },
    {
      name: "HTTP/2.0 request line",
      send: [`GET http://${o}/ HTTP/2.0\r\n\r\n`],
      status: "HTTP/1.1 505 HTTP Version Not Supported",
    },
    {
      name: "HTTP/0.9 version",
      send: [`GET http://${o}/ HTTP/0.9\r\n\r\n`],
      status: "HTTP/1.1 505 HTTP Version Not Supported",
    },
    { name: "empty request line", send: ["\r\n\r\n"], status: B400, match: /empty request line/ },
    {
      name: "binary garbage head",
      send: [new Uint8Array(300).map((_, i) => (i * 7919) % 256).filter((b) => b !== 10), "\n\n"],
      status: B400,
    },
    {
      name: "control character in the target",
      send: [`GET http://${o}/\x01 HTTP/1.1\r\n\r\n`],
      status: B400,
    },
    {
      name: "head larger than 64 KiB",
      send: [get(`X-Big: ${"a".repeat(70 * 1024)}\r\n`)],
      status: "HTTP/1.1 431 Request Header Fields Too Large",
    },
    {
      name: "head of 64 KiB without an end, in pieces",
      send: Array.from(
        { length: 20 },
        (_, i) => i === 0 ? `GET http://${o}/ HTTP/1.1\r\n` : `X-${i}: ${"b".repeat(4000)}\r\n`,
      ),
      status: "HTTP/1.1 431 Request Header Fields Too Large",
    },
    {
      name: "too many headers",
      send: [get(Array.from({ length: 300 }, (_, i) => `X-${i}: v\r\n`).join(""))],
      status: "HTTP/1.1 431 Request Header Fields Too Large",
    },
    {
      name: "duplicated Content-Length with different values",
      send: [post("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!")],
      status: B400,
      match: /conflicting Content-Length/,
    },
    {
      name: "Content-Length list with different values",
      send: [post("Content-Length: 5, 6\r\n", "hello!")],
      status: B400,
    },
    { name: "negative Content-Length", send: [post("Content-Length: -1\r\n")], status: B400 },
    { name: "non-numeric Content-Length", send: [post("Content-Length: 1e3\r\n")], status: B400 },
    {
      name: "Transfer-Encoding with Content-Length",
      send: [post("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "0\r\n\r\n")],
      status: B400,
      match: /smuggling/,
    },
    {
      name: "Transfer-Encoding without final chunked",
      send: [post("Transfer-Encoding: chunked, gzip\r\n", "0\r\n\r\n")],
      status: B400,
    },
    {
      name: "chunked applied twice",
      send: [post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n")],
      status: B400,
    },
    {
      name: "space before the colon",
      send: [get("Host : evil\r\n")],
      status: B400,
      match: /invalid header name/,
    },
    { name: "invalid header name", send: [get("X(y): 1\r\n")], status: B400 },
    { name: "header line without a colon", send: [get("NoColonHere\r\n")], status: B400 },
    {
      name: "NUL in a header value",
      send: [get("X-A: a\x00b\r\n")],
      status: B400,
      match: /invalid characters/,
    },
    { name: "bare CR in a header", send: [get("X-A: a\rb\r\n")], status: B400, match: /bare CR/ },
    { name: "DEL in a header value", send: [get("X-A: a\x7fb\r\n")], status: B400 },
    {
      name: "obs-fold header continuation",
      send: [get("X-A: a\r\n  folded\r\n")],
      status: B400,
      match: /folding/,
    },
    // The head of these is fine and already forwarded when the body turns out
    // bad: the proxy must still answer 400 (or, when the client went away,
    // close) at once, not wait for an origin that waits for the rest.
    {
      name: "non-hex chunk size",
      send: [post("Transfer-Encoding: chunked\r\n", "zz\r\nhello\r\n0\r\n\r\n")],
      status: B400,
      match: /chunk size/,
    },
    {
      name: "too long chunk size",
      send: [post("Transfer-Encoding: chunked\r\n", "10000000000000005\r\nhello\r\n0\r\n\r\n")],
      status: B400,
    },
    {
      name: "negative chunk size",
      send: [post("Transfer-Encoding: chunked\r\n", "-5\r\nhello\r\n0\r\n\r\n")],
      status: B400,
    },
    {
      name: "truncated chunked body, then close",
      send: [post("Transfer-Encoding: chunked\r\n", "100\r\nonly a little")],
      closeWrite: true,
      status: null,
    },
    {
      name: "chunk data not followed by CRLF",
      send: [post("Transfer-Encoding: chunked\r\n", "5\r\nhelloX\n0\r\n\r\n")],
      status: B400,
    },
    {
      name: "client closes mid-head",
      send: [`GET http://${o}/ HTTP/1.1\r\nHost: ${o}\r\nX-Half: `],
      closeWrite: true,
      status: null,
    },
    {
      name: "client closes mid-body",
      send: [post("Content-Length: 1000\r\n", "just ten b")],
      closeWrite: true,
      status: null,
    },
    { name: "CONNECT to port 0", send: [`CONNECT 127.0.0.1:0 HTTP/1.1\r\n\r\n`], status: B400 },
    {
      name: "CONNECT to port 70000",
      send: [`CONNECT 127.0.0.1:70000 HTTP/1.1\r\n\r\n`],
      status: B400,
      match: /invalid port 70000/,
    },
    {
      name: "CONNECT without a port",
      send: [`CONNECT 127.0.0.1 HTTP/1.1\r\n\r\n`],
      status: B400,
      match: /missing port/,
    },
    {
      name: "CONNECT to a garbage host",
      send: ["CONNECT ex^mple:443 HTTP/1.1\r\n\r\n"],
      status: B400,
    },
    {
      name: "CONNECT to a bad IPv6 literal",
      send: ["CONNECT [zz::1]:443 HTTP/1.1\r\n\r\n"],
      status: B400,
    },
    {
      name: "CONNECT with userinfo",
      send: [`CONNECT user:pw@${o} HTTP/1.1\r\n\r\n`],
      status: B400,
    },
    { name: "CONNECT with a path", send: [`CONNECT ${o}/path HTTP/1.1\r\n\r\n`], status: B400 },
    {
      name: "CONNECT to a closed port",
      send: [`CONNECT 127.0.0.1:${closedPort} HTTP/1.1\r\n\r\n`],
      status: "HTTP/1.1 502 Bad Gateway",
      match: /Fluidity-Error: refused/,
    },
    {
      name: "GET to a closed port",
      send: [`GET http://127.0.0.1:${closedPort}/ HTTP/1.1\r\n\r\n`],
      status: "HTTP/1.1 502 Bad Gateway",
      match: /connection refused/,
    },
    {
      name: "absolute-form https:// target",
      send: [`GET https://${o}/ HTTP/1.1\r\nHost: ${o}\r\n\r\n`],
      status: B400,
      match: /use CONNECT for https/,
    },
    {
      name: "origin-form request to the proxy",
      send: [`GET /echo HTTP/1.1\r\nHost: ${o}\r\n\r\n`],
      status: B400,
      match: /this is a proxy/,
    },
    { name: "URL without a host", send: ["GET http:///x HTTP/1.1\r\n\r\n"], status: B400 },
    {
      name: "lowercase method is forwarded as sent",
      send: [`get http://${r}/lower HTTP/1.1\r\nHost: ${r}\r\nConnection: close\r\n\r\n`],
      status: "HTTP/1.1 200 OK",
    },
    {
      name: "second request on a connection is malformed",
      send: [`GET http://${o}/echo HTTP/1.1\r\nHost: ${o}\r\n\r\nGET  bad\r\n\r\n`],
      status: "HTTP/1.1 200 OK",
      match: /\r\n\r\n[^]*HTTP\/1\.1 400 Bad Request\r\n/,
    },
  ];
}

interface LinkCase {
  name: string;
  send: () => Uint8Array[];
  end?: boolean;
  /** Expected GOAWAY code and reason, or undefined: the link just closes. */
  goAway?: { code: number; reason: RegExp };
}

function linkCases(targetHostPort: string, deafHostPort: string): LinkCase[] {
  const P = ResetCode.PROTOCOL;
  return [
    {
      name: "garbage bytes after the TLS handshake",
      send: () => [bytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n")],
      goAway: { code: P, reason: /unknown frame type|exceeds the limit|HELLO/ },
    },
    {
      name: "a truncated frame, then close",
      send: () => [hello(), encodeFrame(FrameType.PING, 0, 0, new Uint8Array(8)).subarray(0, 12)],
      end: true,
    },
    {
      name: "an oversized frame length",
      send: () => [hello(), frameWith(FrameType.DATA, 1, new Uint8Array(0), 0xffffff)],
      goAway: { code: P, reason: /16777215 bytes exceeds the limit/ },
    },
    {
      name: "an unknown frame type",
      send: () => [hello(), frameWith(0x42, 0, new Uint8Array(4))],
      goAway: { code: P, reason: /unknown frame type 66/ },
    },
    {
      name: "DATA on a stream never opened",
      send: () => [hello(), encodeFrame(FrameType.DATA, 0, 7, bytes("hi"))],
      goAway: { code: P, reason: /stream 7, which was never opened/ },
    },
    {
      name: "OPEN reusing a stream id",
      send: () => [hello(), encodeOpen(1, targetHostPort), encodeOpen(1, targetHostPort)],
      goAway: { code: P, reason: /reused stream id 1/ },
    },
    {
      name: "OPEN with a stream id of the server's parity",
      send: () => [hello(), encodeOpen(2, targetHostPort)],
      goAway: { code: P, reason: /invalid or reused stream id 2/ },
    },
    {
      name: "OPEN with an empty target",
      send: () => [hello(), encodeFrame(FrameType.OPEN, 0, 1)],
      goAway: { code: P, reason: /OPEN target of 0 bytes/ },
    },
    {
      name: "WINDOW with a 0 increment",
      send: () => [hello(), encodeU32(FrameType.WINDOW, 0, 0)],
      goAway: { code: P, reason: /WINDOW increment of 0/ },
    },
    {
      name: "a HELLO with a wrong magic",
      send: () => {
        const h = hello().slice();
        h[9] = 0x58;
        return [h];
      },
      goAway: { code: P, reason: /bad magic/ },
    },
    {
      name: "a HELLO with another protocol version",
      send: () => [hello(PROTOCOL_VERSION + 1)],
      goAway: { code: ResetCode.VERSION, reason: new RegExp(`v${PROTOCOL_VERSION + 1}\\b`) },
    },
    {
      name: "a frame before HELLO",
      send: () => [encodeOpen(1, targetHostPort)],
      goAway: { code: P, reason: /expected HELLO first/ },
    },
    {
      name: "a second HELLO",
      send: () => [hello(), hello()],
      goAway: { code: P, reason: /second HELLO/ },
    },
    {
      name: "RESET on stream 0",
      send: () => [hello(), encodeReset(0, ResetCode.CANCEL, "x")],
      goAway: { code: P, reason: /RESET on stream 0/ },
    },
    {
      name: "a malformed PING",
      send: () => [hello(), encodeFrame(FrameType.PING, 0, 0, new Uint8Array(3))],
      goAway: { code: P, reason: /malformed PING/ },
    },
    {
      name: "GOAWAY on a stream",
      send: () => {
        const g = encodeGoAway(0, ResetCode.CANCEL, "x").slice();
        g[8] = 3;
        return [hello(), g];
      },
      goAway: { code: P, reason: /GOAWAY on a stream/ },
    },
    {
      // The target never reads, so once the kernel buffers are full the
      // server stops granting credit: 40 MiB must overrun a window.
      name: "DATA beyond the stream window",
      send: () => [
        hello(),
        encodeOpen(1, deafHostPort),
        ...Array.from(
          { length: 640 },
          () => encodeFrame(FrameType.DATA, 0, 1, new Uint8Array(64 * 1024)),
        ),
      ],
      goAway: { code: P, reason: /exceeded (stream 1's|the link) window/ },
    },
  ];
}

/** Accepts TCP connections and never reads from them. */
function startDeafListener(): { port: number; close(): void } {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  (async () => {
    for await (const c of l) conns.push(c);
  })().catch(() => {});
  return {
    port: (l.addr as Deno.NetAddr).port,
    close() {
      l.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    },
  };
}

function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test("bad input: 60+ malformed requests and links while a good client keeps working", async (t) => {
  const [tunnel, origin] = await Promise.all([
    startTunnel({ env: { FLUIDITY_HTTP_HEAD_TIMEOUT: "2s" } }),
    startHttpOrigin(),
  ]);
  const rawOrigin = startRawOrigin(() => "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  const deaf = startDeafListener();
  const good = startGoodClient(tunnel.proxyUrl, origin);
  let count = 0;
  try {
    const proxy = tunnel.proxyUrl;
    const refusedPort = closedPort();

    for (const c of proxyCases(origin, rawOrigin, refusedPort)) {
      count++;
      await t.step(`proxy: ${c.name}`, async () => {
        const r = await raw(proxy, c.send, { closeWrite: c.closeWrite, timeoutMs: 5_000 });
        const shown = JSON.stringify(r.text.slice(0, 300));
        assert.ok(r.closed, `the proxy did not close the connection within 5s: ${shown}`);
        if (c.status === null) {
          assert.ok(r.text === "" || /^HTTP\/1\.1 [45]\d\d /.test(r.text), shown);
        } else assert.equal(statusLine(r), c.status, shown);
        if (c.match) assert.match(r.text, c.match);
        if (c.status && /^HTTP\/1\.1 [45]/.test(c.status)) {
          assert.match(r.text, /\r\nFluidity-Error: [a-z-]+\r\n/);
          assert.match(r.text, /\r\nConnection: close\r\n/);
        }
      });
    }
    assert.ok(rawOrigin.requests.some((h) => h.startsWith("get /lower HTTP/1.1\r\n")));

    count++;
    await t.step("proxy: a slowloris client gets 408 and is closed", async () => {
      const conn = await Deno.connect(hostPort(proxy));
      const head = `GET ${origin.url}/echo HTTP/1.1\r\nHost: x\r\nX-Slow: ${
        "z".repeat(100)
      }\r\n\r\n`;
      const start = performance.now();
      let i = 0;
      // One byte every 500 ms: the head would take ~70 s; the agent allows 2 s.
      const drip = setInterval(() => {
        if (i < head.length) conn.write(bytes(head[i++]!)).catch(() => {});
      }, 500);
      let text = "";
      const buf = new Uint8Array(4096);
      const cap = setTimeout(() => conn.close(), 10_000);
      try {
        for (;;) {
          const n = await conn.read(buf).catch(() => null);
          if (n === null) break;
          text += latin1.decode(buf.subarray(0, n));
        }
      } finally {
        clearInterval(drip);
        clearTimeout(cap);
        try {
          conn.close();
        } catch { /* closed */ }
      }
      const ms = performance.now() - start;
      assert.equal(text.split("\r\n")[0], "HTTP/1.1 408 Request Timeout", JSON.stringify(text));
      assert.match(text, /Fluidity-Error: head-timeout/);
      assert.ok(ms >= 1_900 && ms < 6_000, `closed after ${ms.toFixed(0)} ms`);
      assert.ok(i < 15, `sent ${i} bytes before the close`);
    });

    count++;
    await t.step("mTLS port: garbage bytes without TLS are refused", async () => {
      const r = await raw(tunnel.serverAddress, [
        "GET / HTTP/1.1\r\nHost: fluidity\r\n\r\n",
        new Uint8Array(512).fill(0x16),
      ]);
      assert.ok(r.closed, "the server closed the plain-TCP connection");
      assert.doesNotMatch(r.text, /HTTP\//);
    });

    count++;
    await t.step("mTLS port: a client without a certificate is refused", async () => {
      const { hostname, port } = hostPort(tunnel.serverAddress);
      const result = await new Promise<string>((resolve) => {
        const s = tls.connect({
          host: hostname,
          port,
          servername: "fluidity-server",
          ca: [tunnel.pki.ca.certPem],
          minVersion: "TLSv1.3",
        });
        const timer = setTimeout(() => (s.destroy(), resolve("timeout")), 10_000);
        s.on("secureConnect", () => s.write(hello()));
        s.on("data", () => {});
        s.on("error", (e: Error) => (clearTimeout(timer), resolve(`error: ${e.message}`)));
        s.on("close", () => (clearTimeout(timer), resolve("closed")));
      });
      assert.notEqual(result, "timeout");
    });

    for (const c of linkCases(new URL(origin.url).host, `127.0.0.1:${deaf.port}`)) {
      count++;
      await t.step(`mTLS link: ${c.name}`, async () => {
        const r = await rawLink(tunnel, c.send(), { end: c.end });
        const seen = r.frames.map((f) => f.type).join(",");
        assert.ok(r.closed, `the server kept the link open (frames ${seen}, error ${r.error})`);
        assert.equal(r.frames[0]?.type, FrameType.HELLO, `the server says HELLO first (${seen})`);
        if (c.goAway) {
          assert.ok(r.goAway, `a GOAWAY before the close (frames ${seen})`);
          assert.equal(r.goAway.code, c.goAway.code, r.goAway.reason);
          assert.match(r.goAway.reason, c.goAway.reason);
          assert.equal(r.frames.at(-1)?.type, FrameType.GOAWAY, "GOAWAY is the last frame");
        } else {
          assert.equal(r.goAway, undefined);
        }
      });
    }

    count++;
    await t.step("a valid raw link still works after all that", async () => {
      const r = await rawLink(
        tunnel,
        [
          hello(),
          encodeOpen(1, new URL(origin.url).host),
          encodeFrame(
            FrameType.DATA,
            1,
            1,
            bytes(`GET /bytes?n=5 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
          ),
        ],
        {
          timeoutMs: 10_000,
          until: (fs) => fs.some((f) => f.type === FrameType.DATA && f.stream === 1 && f.flags & 1),
        },
      );
      const data = r.frames.filter((f) => f.type === FrameType.DATA && f.stream === 1);
      const text = data.map((f) => latin1.decode(f.payload)).join("");
      assert.ok(r.frames.some((f) => f.type === FrameType.OPEN_OK && f.stream === 1));
      assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
      assert.equal(r.goAway, undefined);
    });
    assert.ok(good.running, "the good client ran throughout");
  } finally {
    await good.stop();
    await rawOrigin.close();
    deaf.close();
    await origin.close();
    await tunnel.close();
  }
  console.log(
    `  ${count} bad-input cases; good client: ${good.ok} ok, ${good.failures.length} failed`,
  );
  assert.ok(count >= 40);
  assert.deepEqual(good.failures, [], "the well-behaved client never fails");
  assert.ok(good.ok >= 20, `the good client made only ${good.ok} requests`);
  // Both processes survived everything.
  assert.deepEqual(
    tunnel.agent.stderr.concat(tunnel.server.stderr).filter((l) =>
      /uncaught|panic|TypeError|RangeError/i.test(l)
    ),
    [],
  );
});
