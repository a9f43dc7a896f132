/**
 * What receiving costs the server: CPU of a process that takes N MiB from a
 * Deno.connectTls client (the agent's link), through a `node:tls` server
 * that requires a client certificate (how `fluidity server` must listen:
 * `Deno.listenTls` cannot ask for one, denoland/deno#26825), with and
 * without the young-generation collections the server's link paces
 * (src/tunnel/socket_transport.ts), and through `Deno.listenTls` without a
 * client certificate, in one run. Median [min–max] of 3 alternated rounds;
 * prints a markdown table and one JSON line.
 *
 *   deno run -A --v8-flags=--max-semi-space-size=2,--expose-gc bench/tls_recv.ts [MiB]   # default 256
 *
 * (The flags are RUNTIME_FLAGS, src/runtime_flags.ts: what every fluidity process runs with.)
 * Both servers run in this process, one after the other, on 127.0.0.1; the
 * sender is a child process (`send` role), so only receiving is counted.
 */
import * as tls from "node:tls";
import { makeTestPki } from "../src/certs/test_pki.ts";
import { gcPacer } from "../src/tunnel/gc_pacer.ts";
import { GC_EVERY_BYTES } from "../src/tunnel/socket_transport.ts";
import { cpuMs } from "./proc_cpu.ts";

const MiB = 1 << 20;

interface Sample {
  cpuMs: number;
  wallMs: number;
}

/** Starts the sender child and resolves when it exits. */
async function send(port: number, mib: number, pemDir: string): Promise<void> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL(import.meta.url).pathname,
      "send",
      String(port),
      String(mib),
      pemDir,
    ],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const { code } = await child.status;
  if (code !== 0) throw new Error(`sender exited with ${code}`);
}

/** A counter that starts the clock at the first byte and resolves at the last. */
function meter(total: number) {
  let got = 0;
  let c0 = 0;
  let t0 = 0;
  let done!: (s: Sample) => void;
  const result = new Promise<Sample>((r) => (done = r));
  return {
    result,
    take(n: number) {
      if (got === 0) {
        c0 = cpuMs();
        t0 = performance.now();
      }
      got += n;
      if (got >= total) done({ cpuMs: cpuMs() - c0, wallMs: performance.now() - t0 });
    },
  };
}

interface Pems {
  ca: string;
  cert: string;
  key: string;
}

async function viaNodeTls(mib: number, pems: Pems, dir: string, paced: boolean) {
  const m = meter(mib * MiB);
  const pacer = gcPacer(paced ? GC_EVERY_BYTES : Infinity);
  const server = tls.createServer({
    ca: [pems.ca],
    cert: pems.cert,
    key: pems.key,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: "TLSv1.3",
  }, (sock) => {
    sock.on("data", (d: Uint8Array) => {
      m.take(d.length);
      pacer.moved(d.length);
    });
    sock.on("error", () => {});
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  try {
    await Promise.all([send(port, mib, dir), m.result]);
    return await m.result;
  } finally {
    pacer.stop();
    server.close();
  }
}

async function viaDenoTls(mib: number, pems: Pems, dir: string) {
  const m = meter(mib * MiB);
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: pems.cert,
    key: pems.key,
  });
  const port = (listener.addr as Deno.NetAddr).port;
  const receive = (async () => {
    const conn = await listener.accept();
    const buf = new Uint8Array(256 * 1024);
    try {
      for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) m.take(n);
    } catch { /* the sender's close */ }
    conn.close();
  })();
  try {
    await Promise.all([send(port, mib, dir), m.result]);
    await receive;
    return await m.result;
  } finally {
    listener.close();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

if (Deno.args[0] === "send") {
  const [, port, mib, dir] = Deno.args;
  const read = (f: string) => Deno.readTextFileSync(`${dir}/${f}`);
  const conn = await Deno.connectTls({
    hostname: "127.0.0.1",
    port: Number(port),
    caCerts: [read("ca.crt")],
    cert: read("agent.crt"),
    key: read("agent.key"),
  });
  const chunk = new Uint8Array(128 * 1024);
  for (let i = 0; i < Number(mib) * MiB / chunk.length; i++) {
    for (let off = 0; off < chunk.length;) off += await conn.write(chunk.subarray(off));
  }
  await conn.closeWrite().catch(() => {});
  conn.close();
} else {
  if (!(globalThis as { gc?: unknown }).gc) {
    console.error(
      "tls_recv: run with --v8-flags=--max-semi-space-size=2,--expose-gc (see the header)",
    );
    Deno.exit(2);
  }
  const mib = Number(Deno.args[0] ?? 256);
  if (!Number.isInteger(mib) || mib <= 0 || mib > 4096) {
    console.error(`tls_recv: MiB must be an integer 1-4096, got "${Deno.args[0]}"`);
    Deno.exit(2);
  }
  const pki = await makeTestPki();
  const dir = await Deno.makeTempDir({ prefix: "fluidity-tls-recv-" });
  try {
    await Deno.writeTextFile(`${dir}/ca.crt`, pki.ca.certPem);
    await Deno.writeTextFile(`${dir}/agent.crt`, pki.agent.certPem);
    await Deno.writeTextFile(`${dir}/agent.key`, pki.agent.keyPem);
    const pems = { ca: pki.ca.certPem, cert: pki.server.certPem, key: pki.server.keyPem };
    const paced: Sample[] = [];
    const unpaced: Sample[] = [];
    const deno: Sample[] = [];
    for (let round = 0; round < 3; round++) { // alternated, so drift hits all alike
      paced.push(await viaNodeTls(mib, pems, dir, true));
      unpaced.push(await viaNodeTls(mib, pems, dir, false));
      deno.push(await viaDenoTls(mib, pems, dir));
    }
    const row = (name: string, s: Sample[]) => {
      const cpu = s.map((x) => x.cpuMs);
      const mbps = s.map((x) => Math.round(mib * MiB / 1e6 / (x.wallMs / 1000)));
      return {
        name,
        cpuMs: median(cpu),
        cpuRange: [Math.min(...cpu), Math.max(...cpu)],
        MBps: median(mbps),
      };
    };
    const rows = [
      row("node:tls, client certificate required, minor GC every 4 MiB (the server)", paced),
      row("node:tls, client certificate required, GC left to V8", unpaced),
      row("Deno.listenTls (no client certificate)", deno),
    ];
    const base = rows[2]!.cpuMs;
    console.log(`receiving ${mib} MiB from Deno.connectTls, median [min–max] of 3\n`);
    console.log("| receiver | CPU ms | ÷ Deno TLS | MB/s |\n|---|---|---|---|");
    for (const r of rows) {
      const ratio = (r.cpuMs / base).toFixed(2);
      console.log(`| ${r.name} | ${r.cpuMs} [${r.cpuRange.join("–")}] | ${ratio} | ${r.MBps} |`);
    }
    console.log(JSON.stringify({ mib, deno: Deno.version.deno, rows }));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
