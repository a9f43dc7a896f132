/** Origin servers on loopback for end-to-end tests. */
import { createHash } from "node:crypto";

export const BLOCK = 1 << 20;

/** The deterministic content of `/bytes?n=N` (byte i = i % 251). */
export function patternBlock(offset: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (offset + i) % 251;
  return out;
}

/** SHA-256 hex of the first `n` pattern bytes, computed the same streaming way the origin sends. */
export function patternSha256(n: number): string {
  const h = createHash("sha256");
  const block = patternBlock(0, BLOCK); // BLOCK % 251 != 0, so offset matters
  for (let off = 0; off < n; off += BLOCK) {
    const size = Math.min(BLOCK, n - off);
    h.update(off % 251 === 0 ? block.subarray(0, size) : patternBlock(off, size));
  }
  return h.digest("hex");
}

/** Length and SHA-256 hex of a response body, read as a stream. */
export async function bodyDigest(
  body: ReadableStream<Uint8Array>,
): Promise<{ length: number; sha256: string }> {
  const h = createHash("sha256");
  let length = 0;
  for await (const c of body) {
    h.update(c);
    length += c.length;
  }
  return { length, sha256: h.digest("hex") };
}

function patternStream(n: number, delayMs = 0, blockSize = BLOCK): ReadableStream<Uint8Array> {
  let off = 0;
  return new ReadableStream({
    async pull(c) {
      if (off >= n) return c.close();
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
      const size = Math.min(blockSize, n - off);
      c.enqueue(patternBlock(off, size));
      off += size;
    },
  });
}

export interface Origin {
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * `/echo` → JSON of method, path, headers, body length and SHA-256;
 * `/bytes?n=N[&chunked=1]` → N pattern bytes (Content-Length, or chunked);
 * `/sink` → consumes the body, answers `{length, sha256}`;
 * `/ws` → WebSocket echo (text and binary; close code echoed).
 */
export function startHttpOrigin(tls?: { cert: string; key: string }): Promise<Origin> {
  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      ...(tls ?? {}),
      onListen: (a) =>
        resolve({
          url: `${tls ? "https" : "http"}://${tls ? "localhost" : "127.0.0.1"}:${a.port}`,
          port: a.port,
          close: () => server.shutdown(),
        }),
    }, async (req) => {
      const u = new URL(req.url);
      if (u.pathname === "/ws") {
        const { socket, response } = Deno.upgradeWebSocket(req);
        socket.onmessage = (e) => socket.send(e.data);
        socket.onclose = () => {};
        socket.onerror = () => {};
        return response;
      }
      if (u.pathname === "/bytes") {
        const n = Number(u.searchParams.get("n") ?? "0");
        const delay = Number(u.searchParams.get("delay") ?? "0");
        const block = Number(u.searchParams.get("block") ?? BLOCK);
        const headers: Record<string, string> = { "content-type": "application/octet-stream" };
        if (!u.searchParams.get("chunked")) headers["content-length"] = String(n);
        return new Response(patternStream(n, delay, block), { headers });
      }
      const h = createHash("sha256");
      let length = 0;
      if (req.body) {
        for await (const c of req.body) {
          h.update(c);
          length += c.length;
        }
      }
      const sha256 = h.digest("hex");
      if (u.pathname === "/sink") return Response.json({ length, sha256 });
      return Response.json({
        method: req.method,
        path: u.pathname + u.search,
        headers: [...req.headers],
        length,
        sha256,
      }, { headers: { "x-origin": "echo", "set-cookie": "a=1" } });
    });
  });
}

export interface RawOrigin extends Origin {
  /** Raw request heads received, in order. */
  requests: string[];
}

/**
 * A TCP origin that records each raw request head and answers with `response`
 * (a function of the head) — for byte-level checks Deno.serve would normalise.
 */
/** Closes a listener and the connections it accepted, ignoring the ones already closed. */
export function closeAll(listener: { close(): void }, conns: Iterable<{ close(): void }>): void {
  for (const c of [listener, ...conns]) {
    try {
      c.close();
    } catch { /* closed */ }
  }
}

export function startRawOrigin(response: (head: string) => string): RawOrigin {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const requests: string[] = [];
  const conns = new Set<Deno.Conn>();
  (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      (async () => {
        let buf = "";
        const b = new Uint8Array(65536);
        for (;;) {
          const n = await conn.read(b).catch(() => null);
          if (n === null) break;
          buf += new TextDecoder("latin1").decode(b.subarray(0, n));
          let i;
          while ((i = buf.indexOf("\r\n\r\n")) >= 0) {
            const head = buf.slice(0, i + 4);
            buf = buf.slice(i + 4);
            requests.push(head);
            const out = new Uint8Array([...response(head)].map((c) => c.charCodeAt(0)));
            await conn.write(out).catch(() => {});
          }
        }
        conns.delete(conn);
        try {
          conn.close();
        } catch { /* closed */ }
      })();
    }
  })().catch(() => {});
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close() {
      closeAll(listener, conns);
      return Promise.resolve();
    },
  };
}

/** Sends raw bytes to `addr` and reads until the peer closes or `untilRe` matches. */
export async function rawExchange(
  addr: string,
  request: string | Uint8Array,
  opts: { until?: RegExp; timeoutMs?: number } = {},
): Promise<string> {
  const [host, port] = addr.replace(/^http:\/\//, "").split(":");
  const conn = await Deno.connect({ hostname: host!, port: Number(port) });
  const bytes = typeof request === "string"
    ? new Uint8Array([...request].map((c) => c.charCodeAt(0)))
    : request;
  await conn.write(bytes).catch(() => {});
  let out = "";
  const buf = new Uint8Array(65536);
  const t = setTimeout(() => conn.close(), opts.timeoutMs ?? 10_000);
  try {
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      out += new TextDecoder("latin1").decode(buf.subarray(0, n));
      if (opts.until?.test(out)) break;
    }
  } finally {
    clearTimeout(t);
    try {
      conn.close();
    } catch { /* closed */ }
  }
  return out;
}
