/**
 * Baseline: a bare node:tls pipe in Deno (TLS 1.3, mutual certificates),
 * server and client in two processes like the agent and the server, moving
 * N bytes client → server. The tunnel's bulk figure is read against it.
 *
 *   deno run -A bench/tls_pipe.ts server CA CERT KEY        → prints {"port":P}, sinks, prints {"bytes":N}
 *   deno run -A bench/tls_pipe.ts client PORT CA CERT KEY N → prints {"bytes":N,"seconds":S,"MBps":X}
 */
import * as tls from "node:tls";
import { Buffer } from "node:buffer";

const [mode, ...rest] = Deno.args;

if (mode === "server") {
  const [ca, cert, key] = await Promise.all(rest.slice(0, 3).map((f) => Deno.readTextFile(f)));
  const server = tls.createServer({
    ca: [ca!],
    cert,
    key,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: "TLSv1.3",
  }, (sock) => {
    sock.setNoDelay(true);
    let n = 0;
    sock.on("data", (d: Buffer) => (n += d.length));
    sock.on("end", () => {
      sock.end(JSON.stringify({ bytes: n }));
    });
    sock.on("error", () => {});
  });
  server.listen(0, "127.0.0.1", () => {
    const a = server.address();
    console.log(JSON.stringify({ port: typeof a === "object" && a ? a.port : 0 }));
  });
  // Exits when the parent closes our stdin.
  const buf = new Uint8Array(64);
  while ((await Deno.stdin.read(buf)) !== null) { /* ignore */ }
  server.close();
  Deno.exit(0);
} else if (mode === "client") {
  const port = Number(rest[0]);
  const [ca, cert, key] = await Promise.all(rest.slice(1, 4).map((f) => Deno.readTextFile(f)));
  const total = Number(rest[4]);
  const chunk = Buffer.alloc(Number(Deno.env.get("TLS_PIPE_CHUNK") ?? 256 * 1024), 7);
  const result = await new Promise<{ bytes: number; seconds: number }>((resolve, reject) => {
    const sock = tls.connect({
      host: "127.0.0.1",
      port,
      servername: "fluidity-server",
      ca: [ca!],
      cert,
      key,
      minVersion: "TLSv1.3",
    });
    let t0 = 0;
    let reply = "";
    sock.setNoDelay(true);
    sock.on("error", reject);
    sock.on("data", (d: Buffer) => (reply += d.toString()));
    sock.on("end", () => {
      const seconds = (performance.now() - t0) / 1000;
      try {
        resolve({ bytes: JSON.parse(reply).bytes, seconds });
      } catch (e) {
        reject(e);
      }
    });
    sock.on("secureConnect", () => {
      t0 = performance.now();
      let sent = 0;
      const write = () => {
        while (sent < total) {
          const n = Math.min(chunk.length, total - sent);
          sent += n;
          if (!sock.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
            sock.once("drain", write);
            return;
          }
        }
        sock.end();
      };
      write();
    });
  });
  console.log(JSON.stringify({ ...result, MBps: result.bytes / result.seconds / 1e6 }));
  Deno.exit(result.bytes === total ? 0 : 1);
} else {
  console.error("usage: tls_pipe.ts server CA CERT KEY | client PORT CA CERT KEY BYTES");
  Deno.exit(2);
}
