/**
 * The benchmark origin, run as its own process so it does not share an event
 * loop with the load generator: plain HTTP and HTTPS `Deno.serve` on
 * 127.0.0.1, serving `/1b`, `/bytes?n=N` (Content-Length, 1 MiB writes) and
 * `/sink` (reads the whole body, answers its length).
 *
 *   deno run -A bench/origin.ts CERT_FILE KEY_FILE
 *
 * Prints one JSON line `{"http":PORT,"https":PORT}` when both listen; exits on
 * SIGTERM/SIGINT or when stdin closes.
 */
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

async function listen(
  tls?: { cert: string; key: string },
): Promise<{ port: number; server: Deno.HttpServer }> {
  let port = 0;
  let server!: Deno.HttpServer;
  const ready = new Promise<void>((resolve) => {
    server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      ...(tls ?? {}),
      onListen: (a) => {
        port = a.port;
        resolve();
      },
    }, handler);
  });
  await ready;
  return { port, server };
}

const [plain, secure] = await Promise.all([
  listen(),
  listen({ cert: await Deno.readTextFile(certFile), key: await Deno.readTextFile(keyFile) }),
]);
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
await Promise.all([plain.server.shutdown(), secure.server.shutdown()]);
Deno.exit(0);
