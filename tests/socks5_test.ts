/**
 * End-to-end: the agent's SOCKS5 front (and the fronts' proxy authentication)
 * through a real `fluidity agent` and `fluidity server`: curl
 * `--socks5-hostname`, a raw Deno SOCKS client for IPv4, domain and IPv6
 * targets, reply codes for failed connects, and bad input on the SOCKS port
 * while a good client keeps its stream going.
 */
import assert from "node:assert/strict";
import { startTunnel, type Tunnel } from "./helpers/tunnel.ts";
import { type Origin, startHttpOrigin } from "./helpers/origins.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

async function socksAddress(t: Tunnel): Promise<string> {
  return (await t.agent.waitFor(/SOCKS5 listening on (\S+)/, 30_000, "stdout"))[1]!;
}

async function curl(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command("curl", {
    args: ["-sS", "--max-time", "20", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

async function readN(conn: Deno.Conn, n: number, timeoutMs = 15_000): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let got = 0;
  const t = setTimeout(() => conn.close(), timeoutMs);
  try {
    while (got < n) {
      const r = await conn.read(out.subarray(got));
      if (r === null) throw new Error(`closed after ${got} of ${n} bytes`);
      got += r;
    }
  } finally {
    clearTimeout(t);
  }
  return out;
}

/** Reads until the peer closes (or `timeoutMs`); returns what came. */
async function readToEnd(conn: Deno.Conn, timeoutMs = 10_000): Promise<number[]> {
  const out: number[] = [];
  const buf = new Uint8Array(4096);
  const t = setTimeout(() => {
    try {
      conn.close();
    } catch { /* closed */ }
  }, timeoutMs);
  try {
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      out.push(...buf.subarray(0, n));
    }
  } finally {
    clearTimeout(t);
    try {
      conn.close();
    } catch { /* closed */ }
  }
  return out;
}

function hostPort(addr: string): { hostname: string; port: number } {
  const m = /^\[?([^\]]+)\]?:(\d+)$/.exec(addr)!;
  return { hostname: m[1]!, port: Number(m[2]) };
}

type Target = { ipv4: string } | { ipv6: number[] } | { domain: string };

function connectRequest(t: Target, port: number, cmd = 1): Uint8Array {
  let addr: number[];
  if ("ipv4" in t) addr = [1, ...t.ipv4.split(".").map(Number)];
  else if ("ipv6" in t) addr = [4, ...t.ipv6];
  else addr = [3, t.domain.length, ...enc.encode(t.domain)];
  return new Uint8Array([5, cmd, 0, ...addr, port >> 8, port & 255]);
}

/** A raw SOCKS5 client: greeting (optionally RFC 1929), CONNECT; returns the conn and the reply code. */
async function socksConnect(
  socks: string,
  target: Target,
  port: number,
  auth?: { user: string; password: string },
): Promise<{ conn: Deno.Conn; reply: number }> {
  const conn = await Deno.connect(hostPort(socks));
  await conn.write(new Uint8Array(auth ? [5, 1, 2] : [5, 1, 0]));
  const method = await readN(conn, 2);
  assert.deepEqual([...method], [5, auth ? 2 : 0]);
  if (auth) {
    const u = enc.encode(auth.user);
    const p = enc.encode(auth.password);
    await conn.write(new Uint8Array([1, u.length, ...u, p.length, ...p]));
    const st = await readN(conn, 2);
    if (st[1] !== 0) return { conn, reply: -1 };
  }
  await conn.write(connectRequest(target, port));
  const head = await readN(conn, 4);
  const rest = head[3] === 1 ? 6 : head[3] === 4 ? 18 : 1 + (await readN(conn, 1))[0]! + 2;
  await readN(conn, head[3] === 3 ? rest - 1 : rest);
  return { conn, reply: head[1]! };
}

async function httpGet(conn: Deno.Conn, host: string, path: string): Promise<string> {
  await conn.write(
    enc.encode(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`),
  );
  return dec.decode(new Uint8Array(await readToEnd(conn)));
}

/** A TCP echo origin on `hostname`. */
function startEcho(hostname = "127.0.0.1") {
  const l = Deno.listen({ hostname, port: 0 });
  const conns = new Set<Deno.Conn>();
  (async () => {
    for await (const c of l) {
      conns.add(c);
      c.readable.pipeTo(c.writable).catch(() => {}).finally(() => conns.delete(c));
    }
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

/** Whether this host has IPv6 loopback (containers without it skip the IPv6 target). */
const HAS_V6 = (() => {
  try {
    Deno.listen({ hostname: "::1", port: 0 }).close();
    return true;
  } catch {
    return false;
  }
})();

/** An HTTP origin on ::1. */
function startV6Origin(): Promise<{ port: number; close(): Promise<void> }> {
  return new Promise((resolve) => {
    const s = Deno.serve(
      {
        hostname: "::1",
        port: 0,
        onListen: (a) => resolve({ port: a.port, close: () => s.shutdown() }),
      },
      () => new Response("hello over v6"),
    );
  });
}

async function withSocks(
  fn: (c: { tunnel: Tunnel; socks: string; origin: Origin }) => Promise<void>,
  env: Record<string, string> = {},
): Promise<void> {
  const [tunnel, origin] = await Promise.all([
    startTunnel({ agentArgs: ["--socks-listen", "127.0.0.1:0"], env }),
    startHttpOrigin(),
  ]);
  try {
    await fn({ tunnel, socks: await socksAddress(tunnel), origin });
  } finally {
    await origin.close();
    await tunnel.close();
  }
}

Deno.test("e2e SOCKS5: curl --socks5-hostname fetches through the tunnel (name resolved by the server)", async () => {
  await withSocks(async ({ socks, origin }) => {
    // "localhost" is sent as a name: curl does not resolve it with --socks5-hostname.
    const r = await curl([
      "--socks5-hostname",
      socks,
      `http://localhost:${origin.port}/echo?via=socks`,
    ]);
    assert.equal(r.code, 0, r.err);
    const body = JSON.parse(r.out);
    assert.equal(body.method, "GET");
    const big = await curl([
      "--socks5-hostname",
      socks,
      "-o",
      "/dev/null",
      "-w",
      "%{size_download}",
      `http://127.0.0.1:${origin.port}/bytes?n=${8 << 20}`,
    ]);
    assert.equal(big.out, String(8 << 20), big.err);
    const refused = await curl(["--socks5-hostname", socks, "http://127.0.0.1:1/"]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.err, /\(5\)|refused/i); // curl names the reply code: 5 = refused
  });
});

Deno.test("e2e SOCKS5: a raw client reaches IPv4, domain and IPv6-literal targets; failures get reply codes", async () => {
  const v6 = HAS_V6 ? await startV6Origin() : undefined;
  try {
    await withSocks(async ({ socks, origin }) => {
      const a = await socksConnect(socks, { ipv4: "127.0.0.1" }, origin.port);
      assert.equal(a.reply, 0);
      assert.match(
        await httpGet(a.conn, "127.0.0.1", "/echo?t=v4"),
        /^HTTP\/1\.1 200[\s\S]*"method":"GET"/,
      );

      const d = await socksConnect(socks, { domain: "localhost" }, origin.port);
      assert.equal(d.reply, 0);
      assert.match(await httpGet(d.conn, "localhost", "/echo?t=name"), /^HTTP\/1\.1 200/);

      if (v6) {
        const loop6 = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        const six = await socksConnect(socks, { ipv6: loop6 }, v6.port);
        assert.equal(six.reply, 0);
        assert.match(await httpGet(six.conn, "[::1]", "/"), /hello over v6/);
      } else console.warn("no IPv6 loopback here: IPv6 target not exercised");

      // Connection refused → 0x05; a name that does not resolve → 0x04; policy → 0x02.
      const refused = await socksConnect(socks, { ipv4: "127.0.0.1" }, 1);
      assert.equal(refused.reply, 5);
      refused.conn.close();
      const dns = await socksConnect(socks, { domain: "no-such-host.invalid" }, 80);
      assert.equal(dns.reply, 4);
      dns.conn.close();
      const denied = await socksConnect(socks, { domain: "denied.example" }, 80);
      assert.equal(denied.reply, 2);
      denied.conn.close();
    }, { FLUIDITY_POLICY_DENY_HOSTS: "denied.example" });
  } finally {
    await v6?.close();
  }
});

Deno.test("e2e SOCKS5: bad input gets a proper reply or a close; a concurrent client is unaffected", async () => {
  const echo = startEcho();
  try {
    await withSocks(async ({ socks }) => {
      const good = await socksConnect(socks, { ipv4: "127.0.0.1" }, echo.port);
      assert.equal(good.reply, 0);
      let round = 0;
      const ping = async () => {
        const msg = enc.encode(`ping ${++round} `.repeat(100));
        await good.conn.write(msg);
        assert.deepEqual(await readN(good.conn, msg.length), msg);
      };
      await ping();

      const send = async (bytes: number[] | Uint8Array, halfClose = true) => {
        const c = await Deno.connect(hostPort(socks));
        await c.write(new Uint8Array(bytes)).catch(() => {});
        if (halfClose) await c.closeWrite().catch(() => {});
        return await readToEnd(c);
      };
      const reply = (code: number) => [5, code, 0, 1, 0, 0, 0, 0, 0, 0];

      // Wrong version (SOCKS4 gets its own "rejected" answer), HTTP on the SOCKS port, garbage.
      assert.deepEqual(await send([4, 1, 0, 80, 127, 0, 0, 1, 0]), [0, 0x5b, 0, 0, 0, 0, 0, 0]);
      assert.deepEqual(await send(enc.encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n")), []);
      const garbage = new Uint8Array(4096);
      crypto.getRandomValues(garbage);
      garbage[0] = 0x99;
      assert.deepEqual(await send(garbage), []);
      await ping();
      // Truncated greeting: closed when the client gives up.
      assert.deepEqual(await send([5, 3, 0]), []);
      // No acceptable method.
      assert.deepEqual(await send([5, 1, 0x80]), [5, 0xff]);
      // BIND and UDP ASSOCIATE: 0x07 (after the method answer).
      assert.deepEqual(
        await send([5, 1, 0, 5, 2, 0, 1, 127, 0, 0, 1, 0, 80]),
        [5, 0, ...reply(7)],
      );
      assert.deepEqual(await send([5, 1, 0, 5, 3, 0, 1, 0, 0, 0, 0, 0, 0]), [5, 0, ...reply(7)]);
      // Unknown address type: 0x08.
      assert.deepEqual(await send([5, 1, 0, 5, 1, 0, 9, 1, 2]), [5, 0, ...reply(8)]);
      // Oversized domain (255 bytes; names are at most 253): 0x04, never sent to the server.
      assert.deepEqual(
        await send([5, 1, 0, 5, 1, 0, 3, 255, ...new Array(255).fill(0x61), 0, 80]),
        [5, 0, ...reply(4)],
      );
      // Truncated request (domain shorter than announced): closed when the client gives up.
      assert.deepEqual(await send([5, 1, 0, 5, 1, 0, 3, 200, 0x61, 0x62]), [5, 0]);
      await ping();

      // A client that says nothing at all is closed after the handshake timeout (1s here),
      // while many others keep the port busy.
      const silent = await Deno.connect(hostPort(socks));
      const t0 = Date.now();
      const flood = await Promise.all(
        Array.from({ length: 50 }, () => send([5, 1, 0, 5, 1, 0, 9], false)),
      );
      for (const f of flood) assert.deepEqual(f, [5, 0, ...reply(8)]);
      assert.deepEqual(await readToEnd(silent), []);
      assert.ok(Date.now() - t0 < 8000);
      await ping();
      good.conn.close();
    }, { FLUIDITY_HTTP_HEAD_TIMEOUT: "1s" });
  } finally {
    echo.close();
  }
});

Deno.test("e2e fronts: proxy_auth guards the HTTP (Basic, 407) and SOCKS5 (RFC 1929) fronts", async () => {
  await withSocks(async ({ tunnel, socks, origin }) => {
    const url = `http://127.0.0.1:${origin.port}/echo`;
    const proxy = tunnel.proxyUrl.replace("http://", "");
    const noAuth = await curl(["-i", "-x", `http://${proxy}`, url]);
    assert.match(noAuth.out, /^HTTP\/1\.1 407/);
    assert.match(noAuth.out, /Proxy-Authenticate: Basic realm="fluidity"/i);
    const wrong = await curl(["-i", "-x", `http://alice:nope@${proxy}`, url]);
    assert.match(wrong.out, /^HTTP\/1\.1 407/);
    const ok = await curl(["-x", `http://alice:s3cret@${proxy}`, url]);
    assert.equal(ok.code, 0, ok.err);
    const echoed = JSON.parse(ok.out);
    assert.ok(
      !JSON.stringify(echoed.headers).toLowerCase().includes("proxy-authorization"),
      "credentials must not reach the origin",
    );
    const bob = await curl(["-x", `http://bob:hunter2@${proxy}`, url]);
    assert.equal(bob.code, 0, bob.err);

    const viaSocks = await curl(["-x", `socks5h://alice:s3cret@${socks}`, url]);
    assert.equal(viaSocks.code, 0, viaSocks.err);
    const badSocks = await curl(["-x", `socks5h://alice:nope@${socks}`, url]);
    assert.notEqual(badSocks.code, 0);
    const raw = await socksConnect(socks, { ipv4: "127.0.0.1" }, origin.port, {
      user: "alice",
      password: "s3cret",
    });
    assert.equal(raw.reply, 0);
    raw.conn.close();
    // A client offering only "no authentication" gets 0xFF.
    const c = await Deno.connect(hostPort(socks));
    await c.write(new Uint8Array([5, 1, 0]));
    assert.deepEqual(await readToEnd(c), [5, 0xff]);
    assert.ok(!tunnel.agent.stderr.join("\n").includes("s3cret"), "passwords never logged");
  }, {
    FLUIDITY_PROXY_AUTH_USERS: "alice:s3cret",
    FLUIDITY_PROXY_AUTH_FILE: await htpasswdFile(),
  });
});

Deno.test("e2e fronts: a non-loopback front without authentication is warned about", async () => {
  const tunnel = await startTunnel({
    agentArgs: ["--listen", "0.0.0.0:0", "--socks-listen", "0.0.0.0:0"],
  });
  try {
    await tunnel.agent.waitFor(
      /WARN.*HTTP proxy listens on 0\.0\.0\.0:\d+.*WITHOUT authentication/,
    );
    await tunnel.agent.waitFor(/WARN.*SOCKS5 proxy listens on 0\.0\.0\.0:\d+.*WITHOUT/);
  } finally {
    await tunnel.close();
  }
});

/** bob:hunter2 as htpasswd -s writes it. */
async function htpasswdFile(): Promise<string> {
  const f = await Deno.makeTempFile({ prefix: "fluidity-htpasswd-" });
  await Deno.writeTextFile(
    f,
    "# htpasswd -nbs bob hunter2\nbob:{SHA}87u9ZqY9S/F0eUBXjsPQEDUw4h0=\n",
  );
  return f;
}
