/**
 * The benchmark origin, run as its own process so it does not share an event
 * loop with the load generator, on 127.0.0.1, serving `/1b`, `/bytes?n=N`
 * (Content-Length, 1 MiB writes) and `/sink` (reads the whole body, answers
 * its length): plain HTTP with `Deno.serve`; HTTPS with a minimal HTTP/1.1
 * server on `node:tls` with TCP_NODELAY that writes each small response in
 * one write. (`Deno.serve` over TLS, and `Deno.listenTls`, which cannot set
 * TCP_NODELAY, showed ~40 ms stalls on 10-30 % of fresh HTTPS requests from
 * curl even without any proxy; that would hide the proxy's own
 * Nagle/delayed-ACK behaviour, which the HTTPS rows are meant to expose.)
 *
 *   deno run -A bench/origin.ts CERT_FILE KEY_FILE
 *
 * Prints one JSON line `{"http":PORT,"https":PORT}` when both listen; exits on
 * SIGTERM/SIGINT or when stdin closes.
 */
import * as tls from "node:tls";
import type { Buffer } from "node:buffer";

const [certFile, keyFile] = Deno.args;
if (!certFile || !keyFile) {
  console.error("usage: origin.ts CERT_FILE KEY_FILE");
  Deno.exit(2);
}

const BLOCK = new Uint8Array(1 << 20).map((_, i) => i % 251);

function bytes(n: number): ReadableStream<Uint8Array> {
  let left = n;
  return new ReadableStream({
    pull(c) {
      if (left <= 0) return c.close();
      const size = Math.min(BLOCK.length, left);
      c.enqueue(size === BLOCK.length ? BLOCK : BLOCK.subarray(0, size));
      left -= size;
    },
  }, { highWaterMark: 0 });
}

async function handler(req: Request): Promise<Response> {
  const u = new URL(req.url);
  switch (u.pathname) {
    case "/1b":
      return new Response("x", { headers: { "content-type": "text/plain" } });
    case "/bytes": {
      const n = Math.max(0, Math.min(Number(u.searchParams.get("n") ?? "0") || 0, 2 ** 40));
      return new Response(bytes(n), {
        headers: { "content-type": "application/octet-stream", "content-length": String(n) },
      });
    }
    case "/sink": {
      let length = 0;
      if (req.body) { for await (const c of req.body) length += c.length; }
      return Response.json({ length });
    }
    default:
      return new Response("not found\n", { status: 404 });
  }
}

async function listen(): Promise<{ port: number; server: Deno.HttpServer }> {
  let port = 0;
  let server!: Deno.HttpServer;
  const ready = new Promise<void>((resolve) => {
    server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: (a) => {
        port = a.port;
        resolve();
      },
    }, handler);
  });
  await ready;
  return { port, server };
}

const enc = new TextEncoder();

function headEnd(b: Uint8Array, n: number): number {
  for (let i = 0; i + 3 < n; i++) {
    if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i;
  }
  return -1;
}

/** What the minimal server needs from a connection. */
interface RawConn {
  read(buf: Uint8Array): Promise<number | null>;
  write(bytes: Uint8Array): Promise<number>;
  close(): void;
}

async function writeAll(conn: RawConn, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
}

/** One keep-alive HTTP/1.1 connection (Content-Length request bodies only, no pipelining). */
async function serveRaw(conn: RawConn): Promise<void> {
  const buf = new Uint8Array(64 * 1024);
  let have = 0;
  try {
    for (;;) {
      let i: number;
      while ((i = headEnd(buf, have)) < 0) {
        if (have === buf.length) return;
        const n = await conn.read(buf.subarray(have));
        if (n === null) return;
        have += n;
      }
      let head = "";
      for (let k = 0; k < i; k++) head += String.fromCharCode(buf[k]!);
      const [method = "", target = "/"] = head.split("\r\n", 1)[0]!.split(" ");
      const close = /\r\nconnection:\s*close/i.test(head);
      let left = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
      const extra = have - (i + 4);
      const length = left;
      left -= Math.min(left, extra);
      have = 0; // no pipelining: bytes beyond the body are dropped
      while (left > 0) {
        const n = await conn.read(buf);
        if (n === null) return;
        left -= Math.min(left, n);
      }
      const u = new URL(target, "http://origin");
      const keep = close ? "Connection: close\r\n" : "";
      if (u.pathname === "/1b" && method === "GET") {
        await writeAll(conn, enc.encode(`HTTP/1.1 200 OK\r\nContent-Length: 1\r\n${keep}\r\nx`));
      } else if (u.pathname === "/bytes") {
        const n = Math.max(0, Math.min(Number(u.searchParams.get("n") ?? "0") || 0, 2 ** 40));
        await writeAll(
          conn,
          enc.encode(
            `HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${n}\r\n${keep}\r\n`,
          ),
        );
        for (let off = 0; off < n; off += BLOCK.length) {
          await writeAll(conn, n - off >= BLOCK.length ? BLOCK : BLOCK.subarray(0, n - off));
        }
      } else if (u.pathname === "/sink") {
        const body = JSON.stringify({ length });
        await writeAll(
          conn,
          enc.encode(
            `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n${keep}\r\n${body}`,
          ),
        );
      } else {
        await writeAll(
          conn,
          enc.encode(`HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n${keep}\r\n`),
        );
      }
      if (close) return;
    }
  } catch {
    /* client went away */
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

/** A node:tls socket as a {@linkcode RawConn}, with TCP_NODELAY (Deno.TlsConn cannot set it). */
function nodeConn(sock: tls.TLSSocket): RawConn {
  sock.setNoDelay(true);
  const it = sock[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let left: Uint8Array = new Uint8Array(0);
  return {
    async read(buf) {
      if (left.length === 0) {
        const r = await it.next();
        if (r.done) return null;
        left = r.value;
      }
      const n = Math.min(buf.length, left.length);
      buf.set(left.subarray(0, n));
      left = left.subarray(n);
      return n;
    },
    write(bytes) {
      return new Promise((resolve, reject) => {
        if (sock.destroyed) return reject(new Error("closed"));
        if (sock.write(bytes)) resolve(bytes.length);
        else sock.once("drain", () => resolve(bytes.length));
      });
    },
    close() {
      sock.end();
    },
  };
}

function listenRawTls(cert: string, key: string): Promise<{ port: number; close(): void }> {
  const server = tls.createServer({ cert, key, minVersion: "TLSv1.2" }, (sock) => {
    sock.on("error", () => {});
    void serveRaw(nodeConn(sock));
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const a = server.address();
      resolve({ port: typeof a === "object" && a ? a.port : 0, close: () => server.close() });
    });
  });
}

const plain = await listen();
const secure = await listenRawTls(
  await Deno.readTextFile(certFile),
  await Deno.readTextFile(keyFile),
);
console.log(JSON.stringify({ http: plain.port, https: secure.port }));

const ac = new AbortController();
const stop = () => ac.abort();
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);
// The parent holds our stdin; if it dies without signalling, stdin closes and we exit.
(async () => {
  const buf = new Uint8Array(64);
  while ((await Deno.stdin.read(buf)) !== null) { /* ignore */ }
  stop();
})();
await new Promise((r) => ac.signal.addEventListener("abort", r));
secure.close();
await plain.server.shutdown();
Deno.exit(0);
