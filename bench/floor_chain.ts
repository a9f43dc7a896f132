/**
 * The runtime floor: the least a two-process HTTP proxy chain in Deno can
 * cost, measured by the same harness as Fluidity and ssh -D
 * (`../shared/bench/measure.sh`). No encryption, no multiplexing, no header
 * rewriting, no limits — only what any agent + server pair must do.
 *
 * - `hop` (the agent's place): accepts a client connection, opens a plain TCP
 *   connection to `--next`, and copies bytes both ways.
 * - `exit` (the server's place): reads the first request line; for
 *   `CONNECT host:port` answers 200 and dials it, for an absolute-form request
 *   dials the URL's host:port and forwards the bytes as they came (nginx takes
 *   absolute-form), then copies both ways. A kept-alive client stays on the
 *   first target.
 *
 * Each relay is the same code the tunnel's own ends run on: `Deno.listen`,
 * `Deno.connect`, `TCP_NODELAY`, 64 KiB reads, one event loop.
 *
 *   deno run -A bench/floor_chain.ts chain --listen 127.0.0.1:8091
 *     # starts `exit` and `hop` as two processes, prints "pids HOP EXIT", stops with stdin
 *   deno run -A bench/floor_chain.ts hop --listen 127.0.0.1:8091 --next 127.0.0.1:8092
 *   deno run -A bench/floor_chain.ts exit --listen 127.0.0.1:8092
 *
 * Loopback only: `--listen` must be a 127.0.0.0/8 address.
 */
import { RUNTIME_FLAGS } from "../src/runtime_flags.ts";

const USAGE =
  "usage: floor_chain.ts chain|hop|exit --listen 127.0.0.1:PORT [--next 127.0.0.1:PORT]";

function arg(name: string): string | undefined {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}

function hostPort(s: string | undefined, what: string): { hostname: string; port: number } {
  const m = s?.match(/^(127(?:\.\d{1,3}){3}):(\d{1,5})$/);
  if (!m) {
    console.error(`floor_chain: ${what} must be 127.x.x.x:PORT, got "${s ?? ""}"\n${USAGE}`);
    Deno.exit(2);
  }
  return { hostname: m[1]!, port: Number(m[2]) };
}

// Its own writeAll rather than src/tunnel/pipe.ts's: importing that module (and
// the frame and stream modules it loads) added 1.3 MB to the relay's idle RSS,
// and the floor is measured for memory too.
async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}

/** Copies `from` into `to` until EOF, then half-closes `to`. */
async function copy(from: Deno.Conn, to: Deno.TcpConn): Promise<void> {
  const buf = new Uint8Array(65536);
  try {
    for (;;) {
      const n = await from.read(buf);
      if (n === null) break;
      await writeAll(to, buf.subarray(0, n));
    }
    await to.closeWrite();
  } catch { /* either side went away */ }
}

async function pipeBoth(a: Deno.TcpConn, b: Deno.TcpConn): Promise<void> {
  await Promise.all([copy(a, b), copy(b, a)]);
  closeQuietly(a);
  closeQuietly(b);
}

async function dial(hostname: string, port: number): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname, port });
  conn.setNoDelay(true);
  return conn;
}

const latin1 = new TextDecoder("latin1");
const CONNECTED = new TextEncoder().encode("HTTP/1.1 200 Connection Established\r\n\r\n");

/** `exit`: the first line picks the target. */
async function exitConn(client: Deno.TcpConn): Promise<void> {
  const buf = new Uint8Array(65536);
  let n = 0;
  let eol = -1;
  while (eol < 0 && n < buf.length) {
    const k = await client.read(buf.subarray(n));
    if (k === null) return closeQuietly(client);
    n += k;
    eol = buf.subarray(0, n).indexOf(10);
  }
  const [method, target] = latin1.decode(buf.subarray(0, Math.max(eol, 0))).split(" ");
  const authority = method === "CONNECT" ? target : target?.match(/^http:\/\/([^/]+)/)?.[1];
  const m = authority?.match(/^(.+):(\d+)$/) ?? authority?.match(/^(.+)()$/);
  if (!m) return closeQuietly(client);
  let up: Deno.TcpConn;
  try {
    up = await dial(m[1]!, Number(m[2] || 80));
  } catch {
    return closeQuietly(client);
  }
  if (method === "CONNECT") {
    await writeAll(client, CONNECTED); // a CONNECT request carries nothing after its head here
  } else {
    await writeAll(up, buf.subarray(0, n));
  }
  await pipeBoth(client, up);
}

function serve(listen: string, onConn: (conn: Deno.TcpConn) => Promise<void>): void {
  const listener = Deno.listen({ ...hostPort(listen, "--listen"), transport: "tcp" });
  (async () => {
    for await (const conn of listener) {
      conn.setNoDelay(true);
      onConn(conn).catch(() => closeQuietly(conn));
    }
  })();
}

const role = Deno.args[0];
const listen = arg("listen");
if (role === "hop") {
  const next = hostPort(arg("next"), "--next");
  serve(listen!, async (client) => {
    let up: Deno.TcpConn;
    try {
      up = await dial(next.hostname, next.port);
    } catch {
      return closeQuietly(client);
    }
    await pipeBoth(client, up);
  });
} else if (role === "exit") {
  serve(listen!, exitConn);
} else if (role === "chain") {
  const front = hostPort(listen, "--listen");
  const exitAt = `127.0.0.1:${front.port + 1}`;
  const self = new URL(import.meta.url).pathname;
  const spawn = (...args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", ...RUNTIME_FLAGS, self, ...args],
      stdin: "null",
    }).spawn();
  const exit = spawn("exit", "--listen", exitAt);
  const hop = spawn("hop", "--listen", listen!, "--next", exitAt);
  console.log(`pids ${hop.pid} ${exit.pid}`);
  // Runs until stdin closes (or Ctrl-C), then stops both.
  for await (const _ of Deno.stdin.readable) { /* wait for EOF */ }
  hop.kill();
  exit.kill();
} else {
  console.error(USAGE);
  Deno.exit(2);
}
