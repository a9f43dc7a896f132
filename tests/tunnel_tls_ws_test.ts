/**
 * End to end through real `fluidity server` + `fluidity agent` processes:
 * HTTPS through CONNECT to a TLS origin (Deno fetch and curl), WebSocket as
 * `ws://` through the HTTP front (absolute-form upgrade) and `wss://` through
 * CONNECT (npm:ws), and 100 WebSocket connections at once.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import * as net from "node:net";
import * as tls from "node:tls";
import WebSocket from "ws";
import { type Origin, startHttpOrigin } from "./helpers/origins.ts";
import { startTunnel, type Tunnel } from "./helpers/tunnel.ts";

const CURL = "/usr/bin/curl";
const MiB = 1 << 20;

interface Env {
  tunnel: Tunnel;
  plain: Origin;
  secure: Origin;
}

async function withEnv(fn: (e: Env) => Promise<void>): Promise<void> {
  const tunnel = await startTunnel();
  const plain = await startHttpOrigin();
  const secure = await startHttpOrigin({
    cert: tunnel.pki.server.certPem,
    key: tunnel.pki.server.keyPem,
  });
  try {
    await fn({ tunnel, plain, secure });
  } finally {
    await Promise.all([plain.close(), secure.close()]);
    await tunnel.close();
  }
}

/** The agent's `fluidity_agent_streams_opened_total`, to prove traffic went through the tunnel. */
async function streamsOpened(t: Tunnel): Promise<number> {
  const text = await (await fetch(`http://${t.agentHealth}/metrics`)).text();
  const m = /^fluidity_agent_streams_opened_total (\d+)$/m.exec(text);
  assert.ok(m, `no streams counter in agent metrics:\n${text}`);
  return Number(m[1]);
}

/** The echo JSON (method, path, headers as received, body length and SHA-256). */
async function echoJson(res: Response): Promise<unknown> {
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("x-origin"), "echo");
  return await res.json();
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

async function runCurl(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const env: Record<string, string> = { PATH: "/usr/bin:/bin", NO_COLOR: "1" };
  const r = await new Deno.Command(CURL, {
    args,
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  return {
    code: r.code,
    out: new TextDecoder().decode(r.stdout),
    err: new TextDecoder().decode(r.stderr),
  };
}

Deno.test("HTTPS through CONNECT: fetch via the agent equals fetch direct (GET and POST)", async () => {
  await withEnv(async ({ tunnel, secure }) => {
    const ca = [tunnel.pki.ca.certPem];
    const direct = Deno.createHttpClient({ caCerts: ca });
    const proxied = Deno.createHttpClient({ proxy: { url: tunnel.proxyUrl }, caCerts: ca });
    try {
      const body = new Uint8Array(3 * MiB + 17).map((_, i) => (i * 7) % 256);
      const before = await streamsOpened(tunnel);
      const get = async (client: Deno.HttpClient) =>
        await echoJson(
          await fetch(`${secure.url}/echo?q=1`, { client, headers: { "X-Case": "Mixed" } }),
        );
      const post = async (client: Deno.HttpClient) =>
        await echoJson(await fetch(`${secure.url}/echo`, { client, method: "POST", body }));
      const [gd, gp] = [await get(direct), await get(proxied)];
      assert.deepEqual(gp, gd);
      const [pd, pp] = [await post(direct), await post(proxied)];
      assert.deepEqual(pp, pd);
      assert.equal((pp as { length: number }).length, body.length);
      assert.equal((pp as { sha256: string }).sha256, sha256(body));
      // 4 MiB download through the tunnel, byte-exact
      const res = await fetch(`${secure.url}/bytes?n=${4 * MiB}`, { client: proxied });
      const got = new Uint8Array(await res.arrayBuffer());
      assert.equal(got.length, 4 * MiB);
      const want = await fetch(`${secure.url}/bytes?n=${4 * MiB}`, { client: direct });
      assert.equal(sha256(got), sha256(new Uint8Array(await want.arrayBuffer())));
      assert.ok(
        (await streamsOpened(tunnel)) > before,
        "the proxied requests did not open any tunnel stream",
      );
    } finally {
      direct.close();
      proxied.close();
    }
  });
});

Deno.test("HTTPS through CONNECT: curl -x via the agent equals curl direct (GET and POST)", async () => {
  await withEnv(async ({ tunnel, secure }) => {
    const caFile = `${tunnel.dir}/ca.crt`;
    const bodyFile = `${tunnel.dir}/body.bin`;
    const body = new Uint8Array(MiB + 3).map((_, i) => (i * 13) % 256);
    await Deno.writeFile(bodyFile, body);
    const base = ["-sS", "--fail", "--max-time", "30", "--cacert", caFile, "-H", "Expect:"];
    const direct = ["--noproxy", "*"];
    const proxied = ["--noproxy", "", "-x", tunnel.proxyUrl];
    const before = await streamsOpened(tunnel);

    const getD = await runCurl([...base, ...direct, `${secure.url}/echo?x=1`]);
    const getP = await runCurl([...base, ...proxied, `${secure.url}/echo?x=1`]);
    assert.equal(getD.code, 0, getD.err);
    assert.equal(getP.code, 0, getP.err);
    assert.deepEqual(JSON.parse(getP.out), JSON.parse(getD.out));

    const postArgs = [
      "--data-binary",
      `@${bodyFile}`,
      "-H",
      "Content-Type: application/octet-stream",
    ];
    const postD = await runCurl([...base, ...direct, ...postArgs, `${secure.url}/echo`]);
    const postP = await runCurl([...base, ...proxied, ...postArgs, `${secure.url}/echo`]);
    assert.equal(postP.code, 0, postP.err);
    const pd = JSON.parse(postD.out), pp = JSON.parse(postP.out);
    assert.deepEqual(pp, pd);
    assert.equal(pp.method, "POST");
    assert.equal(pp.length, body.length);
    assert.equal(pp.sha256, sha256(body));

    // curl says it used the proxy's CONNECT (verbose shows the 200 from the agent)
    const v = await runCurl([...base, ...proxied, "-v", "-o", "/dev/null", `${secure.url}/echo`]);
    assert.equal(v.code, 0, v.err);
    assert.match(v.err, /CONNECT localhost:\d+ HTTP\/1\.1/);
    assert.match(v.err, /HTTP\/1\.1 200 Connection Established/);
    assert.ok((await streamsOpened(tunnel)) >= before + 3);
  });
});

// ---------------------------------------------------------------- WebSocket

/**
 * A `ws://` client through the agent's HTTP front: ws writes an origin-form
 * upgrade request; the first write is rewritten to absolute-form, as a
 * proxy-aware client would send it.
 */
function wsViaHttpFront(proxyUrl: string, originUrl: string, path = "/ws"): WebSocket {
  const proxy = new URL(proxyUrl);
  const target = `${originUrl.replace(/^http/, "ws")}${path}`;
  return new WebSocket(target, {
    createConnection: () => {
      const s = net.connect(Number(proxy.port), proxy.hostname);
      s.setNoDelay(true);
      const write = s.write.bind(s) as (...a: unknown[]) => boolean;
      let first = true;
      (s as unknown as { write: (...a: unknown[]) => boolean }).write = (
        chunk: unknown,
        ...rest: unknown[]
      ) => {
        if (first) {
          first = false;
          const text = Buffer.from(chunk as Uint8Array).toString("latin1");
          assert.match(text, /^GET \//, "ws did not start with an origin-form GET");
          chunk = Buffer.from(text.replace(/^GET \//, `GET ${originUrl}/`), "latin1");
        }
        return write(chunk, ...rest);
      };
      return s;
    },
  });
}

/** Opens `CONNECT host:port` through the proxy and resolves with the raw socket after the 200. */
function connectTunnel(proxyUrl: string, authority: string): Promise<net.Socket> {
  const proxy = new URL(proxyUrl);
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(proxy.port), proxy.hostname);
    s.setNoDelay(true);
    let head = "";
    const onData = (d: Buffer) => {
      head += d.toString("latin1");
      const i = head.indexOf("\r\n\r\n");
      if (i < 0) return;
      s.off("data", onData);
      s.off("error", reject);
      if (!/^HTTP\/1\.1 200 /.test(head)) {
        s.destroy();
        reject(new Error(`CONNECT ${authority} refused: ${head.split("\r\n")[0]}`));
        return;
      }
      assert.equal(i + 4, head.length, "bytes after the CONNECT response before the client spoke");
      s.pause();
      resolve(s);
    };
    s.on("data", onData);
    s.once("error", reject);
    s.once("connect", () => s.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`));
  });
}

/** A `wss://` client through CONNECT: TLS to the origin inside the tunnel. */
async function wssViaConnect(proxyUrl: string, originUrl: string, ca: string): Promise<WebSocket> {
  const u = new URL(originUrl);
  const raw = await connectTunnel(proxyUrl, `${u.hostname}:${u.port}`);
  return new WebSocket(`wss://${u.host}/ws`, {
    createConnection: () => tls.connect({ socket: raw, servername: u.hostname, ca: [ca] }),
  });
}

/** `p`, or a failure naming what was awaited after `ms` (a bound, not a synchronisation). */
async function within<T>(p: Promise<T>, ms: number, what: () => string): Promise<T> {
  let t: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        t = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what()}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(t);
  }
}

function opened(ws: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
    ws.once(
      "unexpected-response",
      (_req: unknown, res: { statusCode: number }) =>
        reject(new Error(`unexpected response ${res.statusCode}`)),
    );
  });
}

function nextMessage(ws: WebSocket): Promise<{ data: Buffer; binary: boolean }> {
  return new Promise((resolve, reject) => {
    const onErr = (e: Error) => reject(e);
    ws.once("error", onErr);
    ws.once("message", (data: Buffer | Buffer[] | ArrayBuffer, binary: boolean) => {
      ws.off("error", onErr);
      resolve({ data: Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer), binary });
    });
  });
}

function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) =>
    ws.once("close", (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() }))
  );
}

/** Text, 1 MiB binary frames, ping/pong and a 4001 close, each checked against the echo. */
async function exerciseEcho(ws: WebSocket): Promise<void> {
  await opened(ws);
  const text = "héllo through the tunnel ✓";
  let m = nextMessage(ws);
  ws.send(text);
  let got = await m;
  assert.equal(got.binary, false);
  assert.equal(got.data.toString("utf8"), text);

  for (let k = 0; k < 3; k++) {
    const frame = new Uint8Array(MiB).map((_, i) => (i * 31 + k) % 256);
    m = nextMessage(ws);
    ws.send(frame, { binary: true });
    got = await m;
    assert.equal(got.binary, true);
    assert.equal(got.data.length, MiB);
    assert.equal(sha256(got.data), sha256(frame));
  }

  const pong = new Promise<Buffer>((r) => ws.once("pong", (d: Buffer) => r(d)));
  ws.ping(Buffer.from("are-you-there"));
  assert.equal((await pong).toString(), "are-you-there");

  const c = closed(ws);
  ws.close(4001, "done here");
  const end = await c;
  assert.equal(end.code, 4001);
  assert.equal(end.reason, "done here");
}

Deno.test("WebSocket ws:// through the HTTP front: text, 1 MiB binary, ping/pong, close 4001", async () => {
  await withEnv(async ({ tunnel, plain }) => {
    const before = await streamsOpened(tunnel);
    await within(
      exerciseEcho(wsViaHttpFront(tunnel.proxyUrl, plain.url)),
      60_000,
      () => "ws:// echo",
    );
    assert.equal(await streamsOpened(tunnel), before + 1);
  });
});

Deno.test("WebSocket wss:// through CONNECT: text, 1 MiB binary, ping/pong, close 4001", async () => {
  await withEnv(async ({ tunnel, secure }) => {
    const before = await streamsOpened(tunnel);
    const ws = await wssViaConnect(tunnel.proxyUrl, secure.url, tunnel.pki.ca.certPem);
    await within(exerciseEcho(ws), 60_000, () => "wss:// echo");
    assert.equal(await streamsOpened(tunnel), before + 1);
  });
});

Deno.test("WebSocket: 100 connections at once (50 ws:// + 50 wss://), 20 messages each, zero errors", async () => {
  await withEnv(async ({ tunnel, plain, secure }) => {
    const N = 100, MESSAGES = 20;
    const errors: string[] = [];
    // `opened` is attached as each socket is made: a ws:// socket may open while
    // the wss:// CONNECTs are still in progress.
    const conns = await Promise.all(
      Array.from({ length: N }, async (_, i) => {
        const ws: WebSocket = i % 2 === 0
          ? wsViaHttpFront(tunnel.proxyUrl, plain.url)
          : await wssViaConnect(tunnel.proxyUrl, secure.url, tunnel.pki.ca.certPem);
        ws.on("error", (e: Error) => errors.push(`conn ${i}: ${e.message}`));
        return { ws, open: opened(ws) };
      }),
    );
    const sockets = conns.map((c) => c.ws);
    await within(
      Promise.all(conns.map((c) => c.open)),
      60_000,
      () =>
        `opening ${N} WebSockets; states ${sockets.map((w: WebSocket) => w.readyState).join("")}`,
    );
    // every connection is open at the same time before any message flows
    assert.ok(sockets.every((ws: WebSocket) => ws.readyState === WebSocket.OPEN));
    let exchanged = 0;
    await within(
      Promise.all(sockets.map(async (ws: WebSocket, i: number) => {
        for (let k = 0; k < MESSAGES; k++) {
          const payload = k % 2
            ? `conn ${i} message ${k}`
            : new Uint8Array(4096).fill((i + k) % 256);
          const m = nextMessage(ws);
          ws.send(payload);
          const got = await m;
          if (typeof payload === "string") assert.equal(got.data.toString(), payload);
          else assert.equal(sha256(got.data), sha256(payload));
          exchanged++;
        }
      })),
      60_000,
      () => `exchanging messages: ${exchanged} of ${N * MESSAGES} echoed`,
    );
    const ends = await within(
      Promise.all(sockets.map((ws: WebSocket, i: number) => {
        const c = closed(ws);
        ws.close(4000 + (i % 10), `bye ${i}`);
        return c;
      })),
      60_000,
      () => `closing: states ${sockets.map((w: WebSocket) => w.readyState).join("")}`,
    );
    ends.forEach((e: { code: number; reason: string }, i: number) => {
      assert.equal(e.code, 4000 + (i % 10));
      assert.equal(e.reason, `bye ${i}`);
    });
    assert.deepEqual(errors, []);
  });
});
