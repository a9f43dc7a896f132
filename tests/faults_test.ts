/**
 * Fault tests through real processes: a server killed mid-download and
 * restarted on the same address, a stalled network, a target refusing
 * connections (circuit breaker), and SIGTERM during an upload (drain).
 */
import assert from "node:assert/strict";
import { startTunnel } from "./helpers/tunnel.ts";
import {
  BLOCK,
  patternBlock,
  patternSha256,
  rawExchange,
  startHttpOrigin,
} from "./helpers/origins.ts";
import { spawnFluidity } from "./helpers/procs.ts";
import { startRelay } from "./helpers/relay.ts";

const MiB = 1 << 20;

function serverArgs(dir: string, listen: string): string[] {
  return [
    "server",
    "--listen",
    listen,
    "--cert",
    `${dir}/server.crt`,
    "--key",
    `${dir}/server.key`,
    "--ca",
    `${dir}/ca.crt`,
    "--allow-private-targets",
  ];
}

async function until(fn: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

Deno.test("faults: server killed mid-download → the client sees it end fast; a restarted server on the same address serves again", async () => {
  const origin = await startHttpOrigin();
  const t = await startTunnel();
  let server2: ReturnType<typeof spawnFluidity> | undefined;
  try {
    const [host, port] = t.proxyUrl.slice(7).split(":");
    const conn = await Deno.connect({ hostname: host!, port: Number(port) });
    const target = `127.0.0.1:${origin.port}`;
    // A slow, long download (1 MiB every 50 ms) so the kill lands in the middle.
    await conn.write(new TextEncoder().encode(
      `GET http://${target}/bytes?n=${512 * MiB}&delay=50 HTTP/1.1\r\nHost: ${target}\r\n\r\n`,
    ));
    const buf = new Uint8Array(65536);
    let got = 0;
    while (got < 2 * MiB) got += (await conn.read(buf)) ?? 0;
    const killedAt = performance.now();
    await t.server.stop("SIGKILL");
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      got += n;
    }
    const endedMs = performance.now() - killedAt;
    conn.close();
    console.log(`download ended ${endedMs.toFixed(0)} ms after the server was killed`);
    assert.ok(endedMs < 5000, `the client waited ${endedMs} ms`);
    assert.ok(got < 512 * MiB);

    // While the server is down, a new request gets a clear 503 after link_wait… (not waited here).
    server2 = spawnFluidity(serverArgs(t.dir, t.serverAddress));
    await server2.waitFor(/listening on/, 30_000, "stdout");
    const restartedAt = performance.now();
    await until(
      async () => {
        const r = await rawExchange(
          t.proxyUrl,
          `GET ${origin.url}/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
        );
        return r.startsWith("HTTP/1.1 200");
      },
      30_000,
      "a request through the restarted server",
    );
    console.log(`back ${(performance.now() - restartedAt).toFixed(0)} ms after the restart`);
  } finally {
    await server2?.stop();
    await t.close();
    await origin.close();
  }
});

Deno.test("faults: a stalled network is detected by keepalive within its timeout, then the link recovers", async () => {
  const origin = await startHttpOrigin();
  let relay: ReturnType<typeof startRelay> | undefined;
  const t = await startTunnel({
    agentEnv: { FLUIDITY_LINK_KEEPALIVE_INTERVAL: "1s", FLUIDITY_LINK_KEEPALIVE_TIMEOUT: "2s" },
    serverVia: (addr) => {
      relay = startRelay(addr);
      return Promise.resolve(relay.address);
    },
  });
  try {
    const ok = await rawExchange(
      t.proxyUrl,
      `GET ${origin.url}/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    );
    assert.match(ok, /^HTTP\/1\.1 200/);
    const stalledAt = performance.now();
    relay!.stall(true);
    await t.agent.waitFor(/link is dead/, 15_000, "stderr");
    const detectMs = performance.now() - stalledAt;
    console.log(
      `dead link detected ${detectMs.toFixed(0)} ms after the stall (interval 1s + timeout 2s)`,
    );
    assert.ok(detectMs < 1000 + 2000 + 1500, `detection took ${detectMs} ms`);
    relay!.stall(false);
    await until(
      async () => {
        const r = await rawExchange(
          t.proxyUrl,
          `GET ${origin.url}/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
        );
        return r.startsWith("HTTP/1.1 200");
      },
      30_000,
      "a request after the network came back",
    );
  } finally {
    relay?.close();
    await t.close();
    await origin.close();
  }
});

Deno.test("faults: a refusing target opens the breaker (fast 502 breaker-open), others unaffected, then it recovers", async () => {
  const origin = await startHttpOrigin();
  const t = await startTunnel({
    env: { FLUIDITY_BREAKER_FAILURES: "3", FLUIDITY_BREAKER_COOLDOWN: "1s" },
  });
  // A port with nothing listening: take one and free it.
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const deadPort = (l.addr as Deno.NetAddr).port;
  l.close();
  const dead = `http://127.0.0.1:${deadPort}/`;
  const ask = (url: string) =>
    rawExchange(t.proxyUrl, `GET ${url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  try {
    for (let i = 0; i < 3; i++) assert.match(await ask(dead), /502[\s\S]*Fluidity-Error: refused/);
    const open = await ask(dead);
    assert.match(open, /^HTTP\/1\.1 502 [\s\S]*Fluidity-Error: breaker-open/);
    assert.match(await ask(`${origin.url}/echo`), /^HTTP\/1\.1 200/, "another target still works");
    // The target comes back; after the cool-down one trial closes the breaker.
    const revived = Deno.serve(
      { hostname: "127.0.0.1", port: deadPort, onListen() {} },
      () => new Response("back"),
    );
    try {
      await until(
        async () => /^HTTP\/1\.1 200[\s\S]*back$/.test(await ask(dead)),
        10_000,
        "the breaker to close",
      );
      assert.match(await ask(dead), /^HTTP\/1\.1 200/);
    } finally {
      await revived.shutdown();
    }
  } finally {
    await t.close();
    await origin.close();
  }
});

function slowBody(total: number, delayMs: number): ReadableStream<Uint8Array> {
  let off = 0;
  return new ReadableStream({
    async pull(c) {
      if (off >= total) return c.close();
      await new Promise((r) => setTimeout(r, delayMs));
      const size = Math.min(BLOCK, total - off);
      c.enqueue(patternBlock(off, size));
      off += size;
    },
  });
}

for (const who of ["server", "agent"] as const) {
  Deno.test(`faults: SIGTERM to the ${who} during a 100 MB upload → the upload completes within the drain timeout`, async () => {
    const origin = await startHttpOrigin();
    const t = await startTunnel();
    const client = Deno.createHttpClient({ proxy: { url: t.proxyUrl } });
    try {
      const total = 100 * MiB;
      const upload = fetch(`${origin.url}/sink`, {
        method: "PUT",
        body: slowBody(total, 15),
        client,
      });
      await new Promise((r) => setTimeout(r, 300));
      const proc = who === "server" ? t.server : t.agent;
      const stopped = proc.stop("SIGTERM", 60_000);
      const res = await upload;
      const got = await res.json();
      assert.equal(got.length, total);
      assert.equal(got.sha256, patternSha256(total));
      const status = await stopped;
      assert.equal(status.code, 0, `${who} exit status`);
      assert.ok(proc.stderr.some((l) => /drain/i.test(l)), `${who} logged its drain`);
    } finally {
      client.close();
      await t.close();
      await origin.close();
    }
  });
}
