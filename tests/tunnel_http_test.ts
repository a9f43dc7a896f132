/**
 * End-to-end: HTTP through a real `fluidity agent` and `fluidity server`
 * (separate processes, mTLS link on loopback) to origins started here.
 */
import assert from "node:assert/strict";
import { startTunnel, type Tunnel } from "./helpers/tunnel.ts";
import {
  BLOCK,
  bodyDigest,
  type Origin,
  patternBlock,
  patternSha256,
  rawExchange,
  type RawOrigin,
  startHttpOrigin,
  startRawOrigin,
} from "./helpers/origins.ts";

const MiB = 1 << 20;
const BIG = Number(Deno.env.get("FLUIDITY_TEST_BIG_MB") ?? "1024") * MiB;

interface Ctx {
  tunnel: Tunnel;
  origin: Origin;
  client: Deno.HttpClient;
}

async function withTunnel(fn: (c: Ctx) => Promise<void>): Promise<void> {
  const [tunnel, origin] = await Promise.all([startTunnel(), startHttpOrigin()]);
  const client = Deno.createHttpClient({ proxy: { url: tunnel.proxyUrl } });
  try {
    await fn({ tunnel, origin, client });
  } finally {
    client.close();
    await origin.close();
    await tunnel.close();
  }
}

function sampleRss(pids: Array<{ rssKb(): number }>, everyMs = 100) {
  const peak = pids.map((p) => p.rssKb());
  const t = setInterval(
    () => pids.forEach((p, i) => (peak[i] = Math.max(peak[i]!, p.rssKb()))),
    everyMs,
  );
  return { stop: () => (clearInterval(t), peak) };
}

Deno.test("e2e HTTP: every method through the proxy matches a direct request", async () => {
  await withTunnel(async ({ origin, client }) => {
    for (const method of ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]) {
      const body = ["POST", "PUT", "PATCH", "DELETE"].includes(method)
        ? `payload for ${method}`
        : undefined;
      const init = { method, body, headers: { "x-test": method, "content-type": "text/plain" } };
      const direct = await fetch(`${origin.url}/echo?m=${method}`, init);
      const proxied = await fetch(`${origin.url}/echo?m=${method}`, { ...init, client });
      assert.equal(proxied.status, direct.status, method);
      const strip = (h: Headers) => [...h].filter(([k]) => k !== "date");
      assert.deepEqual(strip(proxied.headers), strip(direct.headers), `${method} headers`);
      const [a, b] = [await direct.text(), await proxied.text()];
      assert.equal(b, a, `${method} body`);
      if (method !== "HEAD") assert.equal(JSON.parse(b).method, method);
    }
  });
});

Deno.test("e2e HTTP: header lines pass byte for byte; Proxy-* headers are dropped", async () => {
  const raw: RawOrigin = startRawOrigin(() =>
    "HTTP/1.1 200 OK\r\nX-Dup: one\r\nx-dup: two\r\nContent-Length: 2\r\n\r\nok"
  );
  const tunnel = await startTunnel();
  try {
    const host = `127.0.0.1:${raw.port}`;
    const res = await rawExchange(
      tunnel.proxyUrl,
      `GET http://${host}/path?q=1&r=%20 HTTP/1.1\r\nHost: ${host}\r\nX-Dup: a\r\nx-dup: b\r\n` +
        `X-MiXeD-CaSe:  spaced value \r\nProxy-Connection: keep-alive\r\n` +
        `Proxy-Authorization: Basic Zm9vOmJhcg==\r\nConnection: close\r\n\r\n`,
      { until: /\r\n\r\nok$/ },
    );
    assert.equal(
      raw.requests[0],
      `GET /path?q=1&r=%20 HTTP/1.1\r\nHost: ${host}\r\nX-Dup: a\r\nx-dup: b\r\n` +
        `X-MiXeD-CaSe:  spaced value \r\nConnection: close\r\n\r\n`,
    );
    assert.match(
      res,
      /^HTTP\/1\.1 200 OK\r\nX-Dup: one\r\nx-dup: two\r\nContent-Length: 2\r\n\r\nok$/,
    );
  } finally {
    await raw.close();
    await tunnel.close();
  }
});

Deno.test("e2e HTTP: one client connection keeps alive across requests to different hosts", async () => {
  const a = startRawOrigin(() => "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA");
  const b = startRawOrigin(() =>
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nB\r\n0\r\n\r\n"
  );
  const tunnel = await startTunnel();
  const [host, port] = tunnel.proxyUrl.slice(7).split(":");
  const conn = await Deno.connect({ hostname: host!, port: Number(port) });
  try {
    const buf = new Uint8Array(4096);
    const ask = async (target: string, until: RegExp) => {
      await conn.write(
        new TextEncoder().encode(`GET http://${target}/ HTTP/1.1\r\nHost: ${target}\r\n\r\n`),
      );
      let got = "";
      while (!until.test(got)) {
        const n = await conn.read(buf);
        if (n === null) throw new Error(`proxy closed the connection; got ${JSON.stringify(got)}`);
        got += new TextDecoder().decode(buf.subarray(0, n));
      }
      return got;
    };
    for (let i = 0; i < 3; i++) {
      assert.match(await ask(`127.0.0.1:${a.port}`, /\r\n\r\nA$/), /200 OK/);
      assert.match(await ask(`127.0.0.1:${b.port}`, /0\r\n\r\n$/), /1\r\nB\r\n0\r\n\r\n$/);
    }
    assert.equal(a.requests.length, 3);
    assert.equal(b.requests.length, 3);
  } finally {
    conn.close();
    await Promise.all([a.close(), b.close(), tunnel.close()]);
  }
});

Deno.test("e2e HTTP: request bodies: Content-Length, chunked and Expect: 100-continue", async () => {
  await withTunnel(async ({ origin, tunnel }) => {
    const host = `127.0.0.1:${origin.port}`;
    const cl = await rawExchange(
      tunnel.proxyUrl,
      `POST http://${host}/sink HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello`,
    );
    assert.match(cl, /"length":5/);
    const chunked = await rawExchange(
      tunnel.proxyUrl,
      `POST http://${host}/sink HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: chunked\r\n` +
        `Connection: close\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n`,
    );
    assert.match(chunked, /"length":11/);
    // curl sends Expect: 100-continue for bodies over 1 MiB and waits for the interim response.
    const file = await Deno.makeTempFile();
    await Deno.writeFile(file, patternBlock(0, 3 * MiB));
    const out = await new Deno.Command("curl", {
      args: [
        "-sS",
        "-x",
        tunnel.proxyUrl,
        "-H",
        "Expect: 100-continue",
        "--data-binary",
        `@${file}`,
        `http://${host}/sink`,
      ],
    }).output();
    await Deno.remove(file);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const got = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.equal(got.length, 3 * MiB);
    assert.equal(got.sha256, patternSha256(3 * MiB));
  });
});

Deno.test("e2e HTTP: a chunked response of unknown length arrives intact", async () => {
  await withTunnel(async ({ origin, client }) => {
    const n = 5 * MiB + 123;
    const res = await fetch(`${origin.url}/bytes?n=${n}&chunked=1`, { client });
    assert.equal(res.headers.get("content-length"), null);
    assert.deepEqual(await bodyDigest(res.body!), { length: n, sha256: patternSha256(n) });
  });
});

Deno.test("e2e HTTP: 1 GiB download and upload keep SHA-256 and RSS growth under 50 MB", async () => {
  await withTunnel(async ({ origin, client, tunnel }) => {
    // Warm up so the baseline includes the JIT and buffers of a normal run.
    await (await fetch(`${origin.url}/bytes?n=${16 * MiB}`, { client })).arrayBuffer();
    const procs = [tunnel.agent, tunnel.server];
    const base = procs.map((p) => p.rssKb());
    const expect = patternSha256(BIG);

    let sampler = sampleRss(procs);
    const res = await fetch(`${origin.url}/bytes?n=${BIG}`, { client });
    const down = await bodyDigest(res.body!);
    let peak = sampler.stop();
    assert.deepEqual(down, { length: BIG, sha256: expect }, "download length and SHA-256");
    for (const i of [0, 1]) {
      const growMb = (peak[i]! - base[i]!) / 1024;
      assert.ok(
        growMb < 50,
        `${i ? "server" : "agent"} RSS grew ${growMb.toFixed(1)} MB during the download`,
      );
    }

    sampler = sampleRss(procs);
    let off = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (off >= BIG) return c.close();
        const size = Math.min(BLOCK, BIG - off);
        c.enqueue(patternBlock(off, size));
        off += size;
      },
    });
    const up = await fetch(`${origin.url}/sink`, { method: "PUT", body, client });
    const got = await up.json();
    peak = sampler.stop();
    assert.equal(got.length, BIG);
    assert.equal(got.sha256, expect, "upload SHA-256");
    for (const i of [0, 1]) {
      const growMb = (peak[i]! - base[i]!) / 1024;
      assert.ok(
        growMb < 50,
        `${i ? "server" : "agent"} RSS grew ${growMb.toFixed(1)} MB during the upload`,
      );
    }
  });
});

async function timedDownload(url: string, client: Deno.HttpClient): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(url, { client });
  let n = 0;
  for await (const c of res.body!) n += c.length;
  return n / ((performance.now() - t0) / 1000);
}

Deno.test("e2e HTTP: a client reading at 1 MB/s does not slow another stream below half", async () => {
  await withTunnel(async ({ origin, client, tunnel }) => {
    const fastUrl = `${origin.url}/bytes?n=${128 * MiB}`;
    await timedDownload(fastUrl, client); // warm-up
    const solo = await timedDownload(fastUrl, client);

    // The slow client: raw socket through the proxy, reading ~64 KiB every 64 ms.
    const [host, port] = tunnel.proxyUrl.slice(7).split(":");
    const slow = await Deno.connect({ hostname: host!, port: Number(port) });
    const target = `127.0.0.1:${origin.port}`;
    await slow.write(
      new TextEncoder().encode(
        `GET http://${target}/bytes?n=${512 * MiB} HTTP/1.1\r\nHost: ${target}\r\n\r\n`,
      ),
    );
    let slowBytes = 0;
    let stop = false;
    const slowReader = (async () => {
      const buf = new Uint8Array(64 * 1024);
      while (!stop) {
        const n = await slow.read(buf).catch(() => null);
        if (n === null) break;
        slowBytes += n;
        await new Promise((r) => setTimeout(r, 64));
      }
    })();
    await new Promise((r) => setTimeout(r, 500)); // let the slow stream fill its windows
    const together = await timedDownload(fastUrl, client);
    stop = true;
    slow.close();
    await slowReader;
    assert.ok(slowBytes > 0, "the slow stream received data");
    assert.ok(
      together >= solo / 2,
      `fast stream ran at ${(together / 1e6).toFixed(0)} MB/s beside the slow one, ` +
        `${(solo / 1e6).toFixed(0)} MB/s alone`,
    );
  });
});

Deno.test("e2e HTTP: 1000 concurrent proxied connections, zero errors, RSS under 100 MB", async () => {
  await withTunnel(async ({ origin, tunnel }) => {
    const procs = [tunnel.agent, tunnel.server];
    const sampler = sampleRss(procs);
    const host = `127.0.0.1:${origin.port}`;
    const N = 1000;
    const results = await Promise.allSettled(
      Array.from({ length: N }, (_, i) =>
        rawExchange(
          tunnel.proxyUrl,
          `GET http://${host}/echo?i=${i} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
          { timeoutMs: 60_000 },
        )),
    );
    const peak = sampler.stop();
    const bad = results.filter((r, i) =>
      r.status === "rejected" || !r.value.startsWith("HTTP/1.1 200") ||
      !r.value.includes(`"/echo?i=${i}"`)
    );
    assert.equal(
      bad.length,
      0,
      `${bad.length} of ${N} failed: ${String(JSON.stringify(bad[0])).slice(0, 300)}`,
    );
    assert.ok(peak[0]! < 100 * 1024, `agent RSS peaked at ${(peak[0]! / 1024).toFixed(0)} MB`);
    assert.ok(peak[1]! < 100 * 1024, `server RSS peaked at ${(peak[1]! / 1024).toFixed(0)} MB`);
  });
});

Deno.test("e2e HTTP: failures become proxy errors with a Fluidity-Error header", async () => {
  await withTunnel(async ({ tunnel, origin }) => {
    const refused = await rawExchange(
      tunnel.proxyUrl,
      "GET http://127.0.0.1:1/ HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert.match(refused, /^HTTP\/1\.1 502 /);
    assert.match(refused, /Fluidity-Error: refused/);
    const dns = await rawExchange(
      tunnel.proxyUrl,
      "GET http://no-such-host.invalid/ HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert.match(dns, /^HTTP\/1\.1 502 /);
    assert.match(dns, /Fluidity-Error: dns/);
    const bad = await rawExchange(tunnel.proxyUrl, "GARBAGE\r\n\r\n");
    assert.match(bad, /^HTTP\/1\.1 400 /);
    const origin_form = await rawExchange(tunnel.proxyUrl, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.match(origin_form, /^HTTP\/1\.1 400 [\s\S]*absolute-form/);
    const connect = await rawExchange(
      tunnel.proxyUrl,
      "CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert.match(connect, /^HTTP\/1\.1 502 /);
    // The proxy still serves after all that.
    const ok = await rawExchange(
      tunnel.proxyUrl,
      `GET ${origin.url}/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    );
    assert.match(ok, /^HTTP\/1\.1 200 /);
  });
});
