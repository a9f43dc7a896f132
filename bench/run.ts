/**
 * `deno task bench`: direct vs. through Fluidity (real `fluidity server` +
 * `fluidity agent` processes on loopback), in one run. Prints a markdown
 * table and one JSON line, and writes `bench/results/<timestamp>.json`.
 *
 *   deno task bench            # full run (~1 min on 2 cores)
 *   deno task bench --quick    # ~30 s smoke run
 *
 * Knobs (env): LAT_N=500 TLS_N=200 CURL_N=100 LOAD_C=64 LOAD_S=5 BULK_MB=256 RSS_C=200 RSS_S=5
 * PATH_MS=20 PATH_MB=128.
 * Every loop is bounded in count and in time; every process started here is
 * stopped in `finally`.
 */
import * as net from "node:net";
import * as tls from "node:tls";
import { Buffer } from "node:buffer";
import { makeTestPki } from "../src/certs/test_pki.ts";
import { startTunnel, type Tunnel } from "../tests/helpers/tunnel.ts";
import { type DelayRelay, startDelayRelay } from "../tests/helpers/delay_relay.ts";
import { cpuMs } from "./proc_cpu.ts";

const QUICK = Deno.args.includes("--quick");

function knob(name: string, full: number, quick: number): number {
  const v = Deno.env.get(name);
  const n = v === undefined || v === "" ? (QUICK ? quick : full) : Number(v);
  if (!Number.isFinite(n) || n <= 0) {
    throw new RangeError(`${name} must be a positive number, got "${v}"`);
  }
  return n;
}

const K = {
  LAT_N: knob("LAT_N", 500, 100),
  TLS_N: knob("TLS_N", 200, 40),
  CURL_N: knob("CURL_N", 100, 20),
  LOAD_C: knob("LOAD_C", 64, 64),
  LOAD_S: knob("LOAD_S", 5, 2),
  BULK_MB: knob("BULK_MB", 256, 64),
  RSS_C: knob("RSS_C", 200, 200),
  RSS_S: knob("RSS_S", 5, 2),
  PATH_MS: knob("PATH_MS", 20, 20),
  PATH_MB: knob("PATH_MB", 128, 32),
};
const MiB = 1 << 20;
const BULK = K.BULK_MB * MiB;
/** Upper bound on any single phase, so a stuck proxy cannot hang the run. */
const PHASE_MAX_MS = 180_000;
const OP_TIMEOUT_MS = 10_000;
const CURL = "/usr/bin/curl";

// ------------------------------------------------------------------ helpers

interface Addr {
  host: string;
  port: number;
}

function addr(hostPort: string): Addr {
  const u = new URL(hostPort.includes("://") ? hostPort : `http://${hostPort}`);
  return { host: u.hostname, port: Number(u.port) };
}

const enc = new TextEncoder();

async function writeAll(conn: Deno.Conn | Deno.FsFile, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
}

/** Minimal HTTP/1.1 response reader (Content-Length bodies only; bodies counted, not kept). */
class HttpConn {
  readonly conn: Deno.TcpConn;
  #buf = new Uint8Array(64 * 1024);
  #start = 0;
  #end = 0;

  constructor(conn: Deno.TcpConn) {
    this.conn = conn;
  }

  async #fill(): Promise<boolean> {
    if (this.#start === this.#end) this.#start = this.#end = 0;
    if (this.#end === this.#buf.length) {
      if (this.#start > 0) {
        this.#buf.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#start = 0;
      } else {
        throw new Error("response head larger than 64 KiB");
      }
    }
    const n = await this.conn.read(this.#buf.subarray(this.#end));
    if (n === null) return false;
    this.#end += n;
    return true;
  }

  #headEnd(): number {
    const b = this.#buf;
    for (let i = this.#start; i + 3 < this.#end; i++) {
      if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i;
    }
    return -1;
  }

  /** Reads one response; resolves with its status and body length. */
  async response(): Promise<{ status: number; length: number }> {
    let i: number;
    while ((i = this.#headEnd()) < 0) {
      if (!(await this.#fill())) throw new Error("connection closed before a response head");
    }
    let head = "";
    for (let k = this.#start; k < i; k++) head += String.fromCharCode(this.#buf[k]!);
    this.#start = i + 4;
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? NaN);
    const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (!cl) throw new Error(`response without Content-Length: ${head.split("\r\n")[0]}`);
    const length = Number(cl[1]);
    let left = length;
    while (left > 0) {
      if (this.#start === this.#end && !(await this.#fill())) {
        throw new Error(`connection closed with ${left} body bytes missing`);
      }
      const take = Math.min(left, this.#end - this.#start);
      this.#start += take;
      left -= take;
    }
    return { status, length };
  }
}

async function withTimeout<T>(ms: number, onTimeout: () => void, p: Promise<T>): Promise<T> {
  const t = setTimeout(onTimeout, ms);
  try {
    return await p;
  } finally {
    clearTimeout(t);
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[i]!;
}

interface LatResult {
  p50: number;
  p99: number;
  n: number;
  errors: number;
}

/** `n` sequential timed operations (+ warm-up), bounded by PHASE_MAX_MS. */
async function timeMany(n: number, warm: number, op: () => Promise<void>): Promise<LatResult> {
  const times: number[] = [];
  let errors = 0;
  const deadline = performance.now() + PHASE_MAX_MS;
  for (let i = 0; i < n + warm && performance.now() < deadline; i++) {
    const t0 = performance.now();
    try {
      await op();
      if (i >= warm) times.push(performance.now() - t0);
    } catch {
      errors++;
    }
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 0.5), p99: percentile(times, 0.99), n: times.length, errors };
}

/** Fresh TCP connection, one GET, read the whole response, close. */
async function freshGet(to: Addr, request: Uint8Array): Promise<void> {
  const conn = await Deno.connect({ hostname: to.host, port: to.port });
  conn.setNoDelay(true);
  try {
    const r = await withTimeout(
      OP_TIMEOUT_MS,
      () => conn.close(),
      (async () => {
        await writeAll(conn, request);
        return await new HttpConn(conn).response();
      })(),
    );
    if (r.status !== 200 || r.length !== 1) throw new Error(`status ${r.status}`);
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

/** Fresh connection, optional CONNECT through `proxy`, node:tls handshake, GET /1b. */
function httpsGet(proxy: Addr | undefined, origin: Addr, ca: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const authority = `${origin.host}:${origin.port}`;
    const raw = net.connect(proxy?.port ?? origin.port, proxy?.host ?? origin.host);
    raw.setNoDelay(true);
    let s: tls.TLSSocket | undefined;
    const fail = (e: Error) => {
      clearTimeout(t);
      raw.destroy();
      s?.destroy();
      reject(e);
    };
    const t = setTimeout(() => fail(new Error("timeout")), OP_TIMEOUT_MS);
    raw.once("error", fail);
    const startTls = () => {
      s = tls.connect({ socket: raw, host: "localhost", servername: "localhost", ca: [ca] });
      s.setNoDelay(true);
      s.once("error", fail);
      let buf = Buffer.alloc(0);
      s.on("data", (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        const i = buf.indexOf("\r\n\r\n");
        if (i < 0) return;
        const head = buf.subarray(0, i).toString("latin1");
        const cl = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? -1);
        if (buf.length - i - 4 < cl) return;
        clearTimeout(t);
        s!.destroy();
        raw.destroy();
        if (/^HTTP\/1\.1 200 /.test(head)) resolve();
        else reject(new Error(head.split("\r\n")[0]));
      });
      s.once(
        "secureConnect",
        () =>
          s!.write(
            `GET /1b HTTP/1.1\r\nHost: localhost:${origin.port}\r\nConnection: close\r\n\r\n`,
          ),
      );
    };
    if (!proxy) {
      raw.once("connect", startTls);
      return;
    }
    raw.once(
      "connect",
      () => raw.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`),
    );
    let head = "";
    const onData = (d: Buffer) => {
      head += d.toString("latin1");
      if (!head.includes("\r\n\r\n")) return;
      raw.off("data", onData);
      if (!/^HTTP\/1\.1 200 /.test(head)) {
        return fail(new Error(`CONNECT: ${head.split("\r\n")[0]}`));
      }
      startTls();
    };
    raw.on("data", onData);
  });
}

interface LoadResult {
  rps: number;
  requests: number;
  errors: number;
  connects: number;
  bytes: number;
  seconds: number;
}

/**
 * `c` keep-alive connections each looping a GET for `seconds`. A failed
 * connection is counted and reopened (bounded by the deadline).
 */
async function keepAliveLoad(
  to: Addr,
  request: Uint8Array,
  c: number,
  seconds: number,
  expectLength: number,
): Promise<LoadResult> {
  let requests = 0, errors = 0, connects = 0, bytes = 0;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  await Promise.all(Array.from({ length: c }, async () => {
    while (performance.now() < deadline) {
      let conn: Deno.TcpConn | undefined;
      try {
        conn = await Deno.connect({ hostname: to.host, port: to.port });
        connects++;
        conn.setNoDelay(true);
        const hc = new HttpConn(conn);
        while (performance.now() < deadline) {
          const c2 = conn;
          const r = await withTimeout(
            OP_TIMEOUT_MS,
            () => c2.close(),
            (async () => {
              await writeAll(c2, request);
              return await hc.response();
            })(),
          );
          if (r.status !== 200 || r.length !== expectLength) throw new Error(`status ${r.status}`);
          requests++;
          bytes += r.length;
        }
      } catch {
        errors++;
      } finally {
        try {
          conn?.close();
        } catch { /* closed */ }
      }
    }
  }));
  const s = (performance.now() - t0) / 1000;
  return { rps: requests / s, requests, errors, connects, bytes, seconds: s };
}

async function curl(args: string[]): Promise<string> {
  const out = await new Deno.Command(CURL, {
    args: ["-sS", "--max-time", "300", ...args],
    env: { PATH: "/usr/bin:/bin" },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) {
    throw new Error(`curl ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

interface Child {
  proc: Deno.ChildProcess;
  firstLine: Promise<string>;
  stop(): Promise<void>;
}

/** A `deno run -A FILE …` child; stdin held open (closing it tells the child to exit). */
function spawnDeno(file: string, args: string[]): Child {
  const proc = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", new URL(file, import.meta.url).pathname, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const firstLine = (async () => {
    let s = "";
    while (!s.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`${file} exited before printing its first line`);
      s += value;
    }
    return s.slice(0, s.indexOf("\n"));
  })();
  let stopped: Promise<void> | undefined;
  return {
    proc,
    firstLine,
    stop() {
      stopped ??= (async () => {
        try {
          await proc.stdin.close();
        } catch { /* closed */ }
        const t = setTimeout(() => {
          try {
            proc.kill("SIGKILL");
          } catch { /* gone */ }
        }, 5_000);
        try {
          proc.kill("SIGTERM");
        } catch { /* gone */ }
        await proc.status;
        clearTimeout(t);
        await reader.cancel().catch(() => {});
      })();
      return stopped;
    },
  };
}

function log(msg: string): void {
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}`);
}

// -------------------------------------------------------------------- run

interface Row {
  metric: string;
  direct: number | null;
  fluidity: number | null;
  /** Median from ../shared/bench (ssh -D), different client; for orientation. */
  sshRef?: number;
  unit: string;
}

async function main(): Promise<void> {
  const started = new Date();
  const dir = await Deno.makeTempDir({ prefix: "fluidity-bench-", dir: "/dev/shm" }).catch(() =>
    Deno.makeTempDir({ prefix: "fluidity-bench-" })
  );
  const children: Child[] = [];
  let tunnel: Tunnel | undefined;
  try {
    const pki = await makeTestPki();
    for (
      const [name, text] of Object.entries({
        "ca.crt": pki.ca.certPem,
        "server.crt": pki.server.certPem,
        "server.key": pki.server.keyPem,
        "agent.crt": pki.agent.certPem,
        "agent.key": pki.agent.keyPem,
      })
    ) await Deno.writeTextFile(`${dir}/${name}`, text, { mode: 0o600 });

    const origin = spawnDeno("./origin.ts", [`${dir}/server.crt`, `${dir}/server.key`]);
    children.push(origin);
    const ports = JSON.parse(await origin.firstLine) as { http: number; https: number };
    // 0. baseline first, on a quiet machine: bare node:tls pipe in Deno, two processes,
    //    median of 3
    log(`baseline: node:tls mTLS pipe, ${K.BULK_MB} MiB`);
    const pipeServer = spawnDeno("./tls_pipe.ts", [
      "server",
      `${dir}/ca.crt`,
      `${dir}/server.crt`,
      `${dir}/server.key`,
    ]);
    children.push(pipeServer);
    const pipePort = (JSON.parse(await pipeServer.firstLine) as { port: number }).port;
    const pipeRuns: number[] = [];
    for (let i = 0; i < 3; i++) {
      const pipeOut = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--quiet",
          new URL("./tls_pipe.ts", import.meta.url).pathname,
          "client",
          String(pipePort),
          `${dir}/ca.crt`,
          `${dir}/agent.crt`,
          `${dir}/agent.key`,
          String(BULK),
        ],
        stdout: "piped",
        stderr: "inherit",
      }).output();
      if (pipeOut.code !== 0) throw new Error("tls_pipe client failed");
      pipeRuns.push(
        (JSON.parse(new TextDecoder().decode(pipeOut.stdout)) as { MBps: number }).MBps,
      );
    }
    const baseline = pipeRuns.sort((a, b) => a - b)[1]!;
    await pipeServer.stop();
    // FLUIDITY_* settings of this shell (e.g. window sizes) reach the agent and server.
    const env = Object.fromEntries(
      Object.entries(Deno.env.toObject()).filter(([k]) => k.startsWith("FLUIDITY_")),
    );
    tunnel = await startTunnel({ pki, env });
    const proxy = addr(tunnel.proxyUrl);
    const agentPid = tunnel.agent.pid, serverPid = tunnel.server.pid;
    const plain: Addr = { host: "127.0.0.1", port: ports.http };
    const secure: Addr = { host: "127.0.0.1", port: ports.https };
    const P = `http://127.0.0.1:${ports.http}`;
    const S = `https://127.0.0.1:${ports.https}`;
    log(
      `origin ${P} ${S}; proxy ${tunnel.proxyUrl}; agent pid ${agentPid}, server pid ${serverPid}`,
    );
    log(`knobs ${JSON.stringify(K)}${QUICK ? " (--quick)" : ""}`);

    const get = (absolute: boolean, path: string, close: boolean) =>
      enc.encode(
        `GET ${absolute ? P : ""}${path} HTTP/1.1\r\nHost: 127.0.0.1:${ports.http}\r\n` +
          (close ? "Connection: close\r\n" : "") + "\r\n",
      );
    // one warm request through the tunnel so idle RSS is after first use
    await freshGet(proxy, get(true, "/1b", true));
    await new Promise((r) => setTimeout(r, 500)); // measurement settle time, not synchronisation
    const rssIdle = { agent: tunnel.agent.rssKb(), server: tunnel.server.rssKb() };

    // 1. fresh-connection GET 1 B
    log(`GET 1 B on fresh connections, n=${K.LAT_N}`);
    const latD = await timeMany(K.LAT_N, 20, () => freshGet(plain, get(false, "/1b", true)));
    const latF = await timeMany(K.LAT_N, 20, () => freshGet(proxy, get(true, "/1b", true)));

    // 2. HTTPS: CONNECT + TLS + GET
    log(`HTTPS CONNECT+TLS+GET, n=${K.TLS_N}`);
    const tlsD = await timeMany(K.TLS_N, 10, () => httpsGet(undefined, secure, pki.ca.certPem));
    const tlsF = await timeMany(K.TLS_N, 10, () => httpsGet(proxy, secure, pki.ca.certPem));

    // 2b. the same with curl (its write pattern exposes Nagle/delayed-ACK stalls), curl's time_total
    log(`HTTPS with curl, n=${K.CURL_N}`);
    const curlTimes = async (via: string[]): Promise<LatResult & { over30: number }> => {
      const times: number[] = [];
      let errors = 0;
      const deadline = performance.now() + PHASE_MAX_MS;
      for (let i = 0; i < K.CURL_N + 3 && performance.now() < deadline; i++) {
        try {
          const out = await curl([
            ...via,
            "--cacert",
            `${dir}/ca.crt`,
            "--max-time",
            "5",
            "-o",
            "/dev/null",
            "-w",
            "%{time_total}",
            `${S}/1b`,
          ]);
          if (i >= 3) times.push(Number(out) * 1000);
        } catch {
          errors++;
        }
      }
      times.sort((a, b) => a - b);
      return {
        p50: percentile(times, 0.5),
        p99: percentile(times, 0.99),
        n: times.length,
        errors,
        over30: times.filter((t) => t > 30).length,
      };
    };
    const curlD = await curlTimes(["--noproxy", "*"]);
    const curlF = await curlTimes(["--noproxy", "", "-x", tunnel.proxyUrl]);

    // 3. keep-alive load
    log(`req/s at ${K.LOAD_C} keep-alive connections, ${K.LOAD_S}s each`);
    const loadD = await keepAliveLoad(plain, get(false, "/1b", false), K.LOAD_C, K.LOAD_S, 1);
    const cpu0 = cpuMs(agentPid) + cpuMs(serverPid);
    const loadF = await keepAliveLoad(proxy, get(true, "/1b", false), K.LOAD_C, K.LOAD_S, 1);
    const cpuLoad = cpuMs(agentPid) + cpuMs(serverPid) - cpu0;

    // 4. bulk with curl
    log(`bulk ${K.BULK_MB} MiB: download plain, download via CONNECT, upload`);
    const direct = ["--noproxy", "*"];
    const viaProxy = ["--noproxy", "", "-x", tunnel.proxyUrl];
    const dl = async (via: string[], url: string, expect = BULK) => {
      const [speed, size, code] = (await curl([
        ...via,
        "--cacert",
        `${dir}/ca.crt`,
        "-o",
        "/dev/null",
        "-w",
        "%{speed_download} %{size_download} %{http_code}",
        url,
      ])).split(" ").map(Number);
      if (size !== expect || code !== 200) {
        throw new Error(`download ${url}: ${size} bytes, ${code}`);
      }
      return speed! / 1e6;
    };
    const upFile = `${dir}/upload.bin`;
    {
      const f = await Deno.open(upFile, { write: true, create: true, truncate: true });
      const block = new Uint8Array(MiB).map((_, i) => (i * 7) % 256);
      for (let i = 0; i < K.BULK_MB; i++) await writeAll(f, block);
      f.close();
    }
    const ul = async (via: string[]) => {
      const out = await curl([
        ...via,
        "-T",
        upFile,
        "-H",
        "Expect:",
        "-w",
        "\n%{speed_upload} %{http_code}",
        `${P}/sink`,
      ]);
      const [json, tail] = out.split("\n");
      const [speed, code] = tail!.split(" ").map(Number);
      if (code !== 200 || JSON.parse(json!).length !== BULK) throw new Error(`upload: ${out}`);
      return speed! / 1e6;
    };
    /** Runs `f` and returns its result with the agent's and the server's CPU ms during it. */
    const withCpu = async <T>(f: () => Promise<T>) => {
      const a = cpuMs(agentPid), s = cpuMs(serverPid);
      const value = await f();
      return { value, agent: cpuMs(agentPid) - a, server: cpuMs(serverPid) - s };
    };
    const bulkHttpD = await dl(direct, `${P}/bytes?n=${BULK}`);
    const httpF = await withCpu(() => dl(viaProxy, `${P}/bytes?n=${BULK}`));
    const bulkTlsD = await dl(direct, `${S}/bytes?n=${BULK}`);
    const connectF = await withCpu(() => dl(viaProxy, `${S}/bytes?n=${BULK}`));
    const upD = await ul(direct);
    const upFc = await withCpu(() => ul(viaProxy));
    const bulkHttpF = httpF.value, bulkTlsF = connectF.value, upF = upFc.value;
    const cpuBulkHttp = httpF.agent + httpF.server, cpuBulkTls = connectF.agent + connectF.server;
    const cpuSplit = (x: { agent: number; server: number }) => ({
      agent: x.agent,
      server: x.server,
    });
    await Deno.remove(upFile);

    // 5. RSS under RSS_C concurrent 1 MiB downloads
    log(`RSS: ${K.RSS_C} keep-alive connections × GET 1 MiB for ${K.RSS_S}s`);
    const rssD = await keepAliveLoad(
      plain,
      get(false, `/bytes?n=${MiB}`, false),
      K.RSS_C,
      K.RSS_S,
      MiB,
    );
    const peak = { agent: 0, server: 0, total: 0 };
    const sample = () => {
      const a = tunnel!.agent.rssKb(), s = tunnel!.server.rssKb();
      peak.agent = Math.max(peak.agent, a);
      peak.server = Math.max(peak.server, s);
      peak.total = Math.max(peak.total, a + s);
    };
    const sampler = setInterval(sample, 100);
    let rssF: LoadResult;
    try {
      rssF = await keepAliveLoad(proxy, get(true, `/bytes?n=${MiB}`, false), K.RSS_C, K.RSS_S, MiB);
    } finally {
      clearInterval(sampler);
    }
    sample();
    await new Promise((r) => setTimeout(r, 1000)); // "1 s after", as in ../shared/bench
    const rssAfter = { agent: tunnel.agent.rssKb(), server: tunnel.server.rssKb() };
    // CPU still spent 1-2 s after the run ended (work left over for streams whose clients left)
    const cpuA0 = cpuMs(agentPid) + cpuMs(serverPid);
    await new Promise((r) => setTimeout(r, 1000));
    const cpuAfter = cpuMs(agentPid) + cpuMs(serverPid) - cpuA0;

    // 6. A long path: the link through a relay adding PATH_MS each way, one
    //    download with the windows fixed at their start sizes (ceilings below
    //    them turn auto-tuning off), then with auto-tuning (the defaults).
    log(`long path: ${K.PATH_MB} MiB over a ${2 * K.PATH_MS} ms round trip, windows fixed, tuned`);
    const overLongPath = async (fixed: boolean) => {
      let relay: DelayRelay | undefined;
      const t = await startTunnel({
        pki,
        env: fixed
          ? {
            ...env,
            FLUIDITY_LINK_STREAM_WINDOW_MAX: "64KiB",
            FLUIDITY_LINK_LINK_WINDOW_MAX: "256KiB",
          }
          : env,
        serverVia: (a) => Promise.resolve((relay = startDelayRelay(a, K.PATH_MS)).address),
      });
      try {
        const n = K.PATH_MB * MiB;
        return await dl(["--noproxy", "", "-x", t.proxyUrl], `${P}/bytes?n=${n}`, n);
      } finally {
        await t.close();
        await relay?.close();
      }
    };
    const pathFixed = await overLongPath(true);
    const pathTuned = await overLongPath(false);

    // ---------------------------------------------------------------- report
    const cpuPerReq = loadF.requests ? (cpuLoad * 1000) / loadF.requests : NaN;
    const r2 = (x: number) => (Number.isFinite(x) ? Math.round(x * 100) / 100 : NaN);
    const rows: Row[] = [
      {
        metric: "GET 1 B, fresh conn, p50",
        direct: latD.p50,
        fluidity: latF.p50,
        sshRef: 1.22,
        unit: "ms",
      },
      {
        metric: "GET 1 B, fresh conn, p99",
        direct: latD.p99,
        fluidity: latF.p99,
        sshRef: 6.12,
        unit: "ms",
      },
      {
        metric: "HTTPS CONNECT+TLS+GET, p50",
        direct: tlsD.p50,
        fluidity: tlsF.p50,
        sshRef: 47.6,
        unit: "ms",
      },
      {
        metric: "HTTPS CONNECT+TLS+GET, p99",
        direct: tlsD.p99,
        fluidity: tlsF.p99,
        sshRef: 54.6,
        unit: "ms",
      },
      {
        metric: "HTTPS via CONNECT, curl time_total p50",
        direct: curlD.p50,
        fluidity: curlF.p50,
        sshRef: 46.6,
        unit: "ms",
      },
      {
        metric: "HTTPS via CONNECT, curl time_total p99",
        direct: curlD.p99,
        fluidity: curlF.p99,
        sshRef: 55.6,
        unit: "ms",
      },
      {
        metric: "curl requests over 30 ms (Nagle/delayed-ACK mode)",
        direct: curlD.over30,
        fluidity: curlF.over30,
        unit: `count of ${K.CURL_N}`,
      },
      {
        metric: `req/s, ${K.LOAD_C} keep-alive conns, GET 1 B`,
        direct: loadD.rps,
        fluidity: loadF.rps,
        sshRef: 11358,
        unit: "req/s",
      },
      {
        metric: "CPU per request (agent+server)",
        direct: null,
        fluidity: cpuPerReq,
        sshRef: 71,
        unit: "µs",
      },
      {
        metric: `download ${K.BULK_MB} MiB, plain HTTP`,
        direct: bulkHttpD,
        fluidity: bulkHttpF,
        sshRef: 233,
        unit: "MB/s",
      },
      {
        metric: `download ${K.BULK_MB} MiB, HTTPS via CONNECT`,
        direct: bulkTlsD,
        fluidity: bulkTlsF,
        sshRef: 206,
        unit: "MB/s",
      },
      {
        metric: `upload (PUT) ${K.BULK_MB} MiB`,
        direct: upD,
        fluidity: upF,
        sshRef: 237,
        unit: "MB/s",
      },
      {
        metric: `CPU for the plain download (agent+server)`,
        direct: null,
        fluidity: cpuBulkHttp,
        sshRef: 1430,
        unit: "ms",
      },
      {
        metric: `CPU for the CONNECT download (agent+server)`,
        direct: null,
        fluidity: cpuBulkTls,
        sshRef: 1310,
        unit: "ms",
      },
      {
        metric: `bare node:tls mTLS pipe (2 processes, median of 3), ${K.BULK_MB} MiB`,
        direct: baseline,
        fluidity: Math.min(bulkHttpF, bulkTlsF, upF),
        unit: "MB/s (fluidity = slowest bulk figure)",
      },
      { metric: "RSS idle, agent", direct: null, fluidity: rssIdle.agent / 1024, unit: "MB" },
      { metric: "RSS idle, server", direct: null, fluidity: rssIdle.server / 1024, unit: "MB" },
      {
        metric: `RSS peak, agent, ${K.RSS_C} conns × 1 MiB`,
        direct: null,
        fluidity: peak.agent / 1024,
        sshRef: 21580 / 1024,
        unit: "MB",
      },
      { metric: "RSS peak, server", direct: null, fluidity: peak.server / 1024, unit: "MB" },
      {
        metric: "RSS peak, agent + server",
        direct: null,
        fluidity: peak.total / 1024,
        sshRef: 308324 / 1024,
        unit: "MB",
      },
      {
        metric: "RSS 1 s after, agent + server",
        direct: null,
        fluidity: (rssAfter.agent + rssAfter.server) / 1024,
        sshRef: 138096 / 1024,
        unit: "MB",
      },
      {
        metric: `aggregate MB/s, ${K.RSS_C} conns × 1 MiB`,
        direct: rssD.bytes / rssD.seconds / 1e6,
        fluidity: rssF.bytes / rssF.seconds / 1e6,
        sshRef: 213,
        unit: "MB/s",
      },
      {
        metric: "agent+server CPU in the 2nd second after that run",
        direct: null,
        fluidity: cpuAfter,
        unit: "ms",
      },
      {
        metric: `download ${K.PATH_MB} MiB over a ${
          2 * K.PATH_MS
        } ms round trip (relay); direct column: windows fixed, fluidity: auto-tuned`,
        direct: pathFixed,
        fluidity: pathTuned,
        unit: "MB/s",
      },
      {
        metric: "errors (all phases)",
        direct: latD.errors + tlsD.errors + curlD.errors + loadD.errors + rssD.errors,
        fluidity: latF.errors + tlsF.errors + curlF.errors + loadF.errors + rssF.errors,
        sshRef: 0,
        unit: "count",
      },
    ];
    const fmt = (x: number | null | undefined) =>
      x === null || x === undefined
        ? "–"
        : !Number.isFinite(x)
        ? "nan"
        : Math.abs(x) >= 100
        ? String(Math.round(x))
        : String(r2(x));
    const lines = [
      `| metric | unit | direct | fluidity | ratio (fluidity ÷ direct) | ssh -D ref (../shared/bench) |`,
      `|---|---|---|---|---|---|`,
      ...rows.map((r) =>
        `| ${r.metric} | ${r.unit} | ${fmt(r.direct)} | ${fmt(r.fluidity)} | ${
          r.direct && r.fluidity !== null ? fmt(r.fluidity / r.direct) : "–"
        } | ${fmt(r.sshRef)} |`
      ),
    ];
    const result = {
      started: started.toISOString(),
      seconds: Math.round((Date.now() - started.getTime()) / 100) / 10,
      quick: QUICK,
      knobs: K,
      host: {
        cpus: navigator.hardwareConcurrency,
        deno: Deno.version.deno,
        loadavg: Deno.loadavg(),
      },
      lat_http: { direct: latD, fluidity: latF },
      lat_https: { direct: tlsD, fluidity: tlsF },
      curl_https: { direct: curlD, fluidity: curlF },
      load: { direct: loadD, fluidity: loadF, cpu_us_per_req: cpuPerReq },
      bulk_MBps: {
        http: { direct: bulkHttpD, fluidity: bulkHttpF },
        connect: { direct: bulkTlsD, fluidity: bulkTlsF },
        upload: { direct: upD, fluidity: upF },
        tls_pipe_baseline: baseline,
        ratio_to_baseline: {
          http: bulkHttpF / baseline,
          connect: bulkTlsF / baseline,
          upload: upF / baseline,
        },
        cpu_ms: { http: cpuSplit(httpF), connect: cpuSplit(connectF), upload: cpuSplit(upFc) },
      },
      rss_kb: { idle: rssIdle, peak, after: rssAfter, load: { direct: rssD, fluidity: rssF } },
      cpu_ms_in_the_second_after_the_rss_run: cpuAfter,
      long_path_MBps: { rtt_ms: 2 * K.PATH_MS, fixed_windows: pathFixed, tuned: pathTuned },
    };
    console.log(lines.join("\n"));
    console.log();
    console.log(
      `bulk vs bare node:tls pipe (${fmt(baseline)} MB/s): plain ${fmt(bulkHttpF / baseline)}, ` +
        `CONNECT ${fmt(bulkTlsF / baseline)}, upload ${fmt(upF / baseline)}`,
    );
    console.log(JSON.stringify(result));
    const outDir = new URL("./results/", import.meta.url).pathname;
    await Deno.mkdir(outDir, { recursive: true });
    const file = `${outDir}${started.toISOString().replace(/[:.]/g, "-")}.json`;
    await Deno.writeTextFile(file, JSON.stringify({ ...result, table: lines }, null, 2) + "\n");
    log(`wrote ${file}`);
  } finally {
    await tunnel?.close().catch(() => {});
    for (const c of children) await c.stop().catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  try {
    await main();
  } catch (e) {
    console.error(`bench failed: ${(e as Error).stack ?? e}`);
    Deno.exit(1);
  }
}
