/**
 * mTLS refusals against real `fluidity server` / `fluidity agent` processes.
 *
 * Server side: node:tls clients with no certificate, a certificate from
 * another CA, an expired one, a serverAuth-only one, and a TLS 1.2 client are
 * refused (no HELLO frame ever arrives); a valid agent certificate gets the
 * server's HELLO. Agent side: the agent pins the private CA, so it refuses a
 * server certified by another CA even when the system trust includes that
 * CA, and a relay that intercepts TLS with such a certificate and reaches
 * the real server with a valid client certificate of its own; an agent with
 * an expired certificate says it was likely rejected.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import * as tls from "node:tls";
import { makeTestPki, type TestPki, writeTestPki } from "../src/certs/test_pki.ts";
import { type Proc, spawnFluidity } from "./helpers/procs.ts";
import { closeAll, rawExchange, startHttpOrigin } from "./helpers/origins.ts";

const HEADER_SIZE = 9;
const HELLO = 0;

interface ServerHandle {
  proc: Proc;
  host: string;
  port: number;
  dir: string;
}

/** A real server; `serverPem` replaces its certificate (the CA it trusts for agents stays `pki.ca`). */
async function startServer(
  pki: TestPki,
  serverPem = pki.server,
): Promise<ServerHandle> {
  const dir = await Deno.makeTempDir({ prefix: "fluidity-mtls-" });
  await writeTestPki(pki, dir);
  await Deno.writeTextFile(`${dir}/server.crt`, serverPem.certPem);
  await Deno.writeTextFile(`${dir}/server.key`, serverPem.keyPem, { mode: 0o600 });
  await Deno.writeTextFile(`${dir}/other-ca.crt`, pki.otherCa.certPem);
  const proc = spawnFluidity([
    "server",
    "--listen",
    "127.0.0.1:0",
    "--cert",
    `${dir}/server.crt`,
    "--key",
    `${dir}/server.key`,
    "--ca",
    `${dir}/ca.crt`,
    "--allow-private-targets",
  ]);
  const m = await proc.waitFor(/listening on 127\.0\.0\.1:(\d+)/, 30_000, "stdout");
  return { proc, host: "127.0.0.1", port: Number(m[1]), dir };
}

async function stopServer(s: ServerHandle): Promise<void> {
  await s.proc.stop();
  await Deno.remove(s.dir, { recursive: true }).catch(() => {});
}

interface Outcome {
  /** The client's handshake completed (TLS 1.3 clients may see this before a rejection). */
  handshake: boolean;
  /** First frame header, if 9 bytes arrived. */
  header?: Uint8Array;
  /** How the connection ended without a header: error message or "closed". */
  end?: string;
}

/**
 * Connects a node:tls client and waits until either a full 9-byte frame
 * header arrives or the connection errors/closes. `boundMs` only turns a
 * hang into a failure; it is not how the outcome is decided.
 */
function tryLink(s: ServerHandle, opts: tls.ConnectionOptions, boundMs = 20_000): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const out: Outcome = { handshake: false };
    let buf = Buffer.alloc(0);
    const sock = tls.connect({
      host: s.host,
      port: s.port,
      servername: "fluidity-server",
      rejectUnauthorized: true,
      minVersion: "TLSv1.2",
      ...opts,
    });
    const done = (end?: string) => {
      clearTimeout(t);
      if (end !== undefined && out.header === undefined) out.end = end;
      sock.removeAllListeners();
      sock.on("error", () => {});
      sock.destroy();
      resolve(out);
    };
    const t = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no frame and no close within ${boundMs} ms (${JSON.stringify(out)})`));
    }, boundMs);
    sock.on("secureConnect", () => (out.handshake = true));
    sock.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= HEADER_SIZE) {
        out.header = new Uint8Array(buf.subarray(0, HEADER_SIZE));
        done();
      }
    });
    sock.on("error", (e: Error & { code?: string }) => done(`${e.code ?? ""} ${e.message}`));
    sock.on("close", () => done("closed"));
  });
}

function assertRefused(o: Outcome, what: string): void {
  assert.equal(o.header, undefined, `${what}: a frame arrived from the server`);
  assert.ok(o.end, `${what}: no error or close`);
}

Deno.test("server: mTLS refuses bad clients and sends HELLO to a valid agent", async (t) => {
  const pki = await makeTestPki();
  const s = await startServer(pki);
  const ca = [pki.ca.certPem];
  try {
    await t.step("valid agent certificate: the first frame is HELLO on stream 0", async () => {
      const o = await tryLink(s, { ca, cert: pki.agent.certPem, key: pki.agent.keyPem });
      assert.ok(o.handshake);
      assert.ok(o.header, `no frame: ${o.end}`);
      assert.equal(o.header[3], HELLO, "frame type");
      assert.deepEqual([...o.header.subarray(5, 9)], [0, 0, 0, 0], "stream id");
      const length = (o.header[0]! << 16) | (o.header[1]! << 8) | o.header[2]!;
      assert.ok(length > 0 && length < 1024, `HELLO length ${length}`);
    });

    await t.step("no client certificate: refused", async () => {
      assertRefused(await tryLink(s, { ca }), "no cert");
    });

    await t.step("certificate from another CA: refused", async () => {
      const o = await tryLink(s, { ca, cert: pki.otherAgent.certPem, key: pki.otherAgent.keyPem });
      assertRefused(o, "other CA");
    });

    await t.step("expired certificate: refused", async () => {
      const o = await tryLink(s, {
        ca,
        cert: pki.expiredAgent.certPem,
        key: pki.expiredAgent.keyPem,
      });
      assertRefused(o, "expired");
    });

    await t.step("serverAuth-only certificate: refused", async () => {
      const o = await tryLink(s, {
        ca,
        cert: pki.serverAuthOnlyAgent.certPem,
        key: pki.serverAuthOnlyAgent.keyPem,
      });
      assertRefused(o, "serverAuth-only");
    });

    await t.step("TLS 1.2 client with a valid certificate: refused in the handshake", async () => {
      const o = await tryLink(s, {
        ca,
        cert: pki.agent.certPem,
        key: pki.agent.keyPem,
        maxVersion: "TLSv1.2",
      });
      assertRefused(o, "TLS 1.2");
      assert.equal(o.handshake, false, "a TLS 1.2 handshake completed");
    });

    await t.step("the server still serves a valid agent afterwards", async () => {
      const o = await tryLink(s, { ca, cert: pki.agent.certPem, key: pki.agent.keyPem });
      assert.equal(o.header?.[3], HELLO, `no HELLO: ${o.end}`);
    });

    // Every refusal is logged by the server (5 refused handshakes).
    await s.proc.waitFor(/TLS handshake refused/, 10_000);
  } finally {
    await stopServer(s);
  }
});

function spawnAgent(
  s: ServerHandle,
  cert: string,
  key: string,
  env: Record<string, string> = {},
  server = `${s.host}:${s.port}`,
): Proc {
  return spawnFluidity([
    "agent",
    "--listen",
    "127.0.0.1:0",
    "--server",
    server,
    "--cert",
    cert,
    "--key",
    key,
    "--ca",
    `${s.dir}/ca.crt`,
  ], { env: { FLUIDITY_LINK_WAIT: "1s", ...env } });
}

Deno.test("agent: refuses a server certified by another CA even when the system trusts that CA", async () => {
  const pki = await makeTestPki();
  const s = await startServer(pki, pki.otherServer);
  const origin = await startHttpOrigin({
    cert: pki.otherServer.certPem,
    key: pki.otherServer.keyPem,
  });
  const trustOther = {
    DENO_CERT: `${s.dir}/other-ca.crt`,
    NODE_EXTRA_CA_CERTS: `${s.dir}/other-ca.crt`,
  };
  let agent: Proc | undefined;
  try {
    // Control: with that environment, a Deno process does trust otherCa by default.
    const probe = await new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `const r = await fetch(${JSON.stringify(origin.url + "/echo")}); console.log(r.status);`,
      ],
      env: trustOther,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(
      new TextDecoder().decode(probe.stdout).trim(),
      "200",
      `otherCa is not system-trusted in the probe: ${new TextDecoder().decode(probe.stderr)}`,
    );

    agent = spawnAgent(s, `${s.dir}/agent.crt`, `${s.dir}/agent.key`, trustOther);
    const m = await agent.waitFor(/proxy listening on (\S+)/, 30_000, "stdout");
    await agent.waitFor(/certificate this agent does not trust/, 30_000, "stderr");
    assert.ok(
      !agent.stderr.some((l) => /tunnel up/.test(l)),
      `the agent accepted the server:\n${agent.stderr.join("\n")}`,
    );
    const res = await rawExchange(
      m[1]!,
      "GET http://127.0.0.1:9/ HTTP/1.1\r\nHost: 127.0.0.1:9\r\nConnection: close\r\n\r\n",
      { timeoutMs: 20_000 },
    );
    assert.match(res, /^HTTP\/1\.1 503 /);
    assert.match(res, /\r\nFluidity-Error: no-tunnel\r\n/i);
    // The rogue server completed TLS (the agent's TLS trusts the system store
    // too) but failed the identity proof: the agent sent it no stream and
    // said why it left.
    await s.proc.waitFor(/identity proof rejected/, 10_000);
    assert.ok(
      !s.proc.stderr.some((l) => /stream/.test(l)),
      `the agent opened a stream to the rogue server:\n${s.proc.stderr.join("\n")}`,
    );
  } finally {
    await agent?.stop();
    await origin.close();
    await stopServer(s);
  }
});

/**
 * A TLS-intercepting relay: terminates the agent's TLS with a certificate the
 * workstation trusts (another CA, in DENO_CERT), and connects on to the real
 * server with a valid client certificate of its own (an insider's).
 */
function startInterceptingRelay(
  tlsPem: { certPem: string; keyPem: string },
  upstream: { host: string; port: number; caPem: string; cert: string; key: string },
) {
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: tlsPem.certPem,
    key: tlsPem.keyPem,
  });
  let relayed = 0;
  const conns: Deno.Conn[] = [];
  (async () => {
    for await (const down of listener) {
      conns.push(down);
      (async () => {
        const up = await Deno.connectTls({
          hostname: upstream.host,
          port: upstream.port,
          caCerts: [upstream.caPem],
          cert: upstream.cert,
          key: upstream.key,
        });
        conns.push(up);
        relayed++;
        await Promise.all([
          down.readable.pipeTo(up.writable).catch(() => {}),
          up.readable.pipeTo(down.writable).catch(() => {}),
        ]);
      })().catch(() => {});
    }
  })().catch(() => {});
  return {
    address: `127.0.0.1:${listener.addr.port}`,
    relayed: () => relayed,
    close: () => closeAll(listener, conns),
  };
}

Deno.test("agent: refuses a relayed link: a trusted interceptor with its own valid client certificate", async () => {
  const pki = await makeTestPki();
  const s = await startServer(pki);
  const { issueCert } = await import("../src/certs/ca.ts");
  const insider = await issueCert(pki.ca, { kind: "agent", name: "insider" });
  const relay = startInterceptingRelay(pki.otherServer, {
    host: s.host,
    port: s.port,
    caPem: pki.ca.certPem,
    cert: insider.certPem,
    key: insider.keyPem,
  });
  let agent: Proc | undefined;
  try {
    agent = spawnAgent(s, `${s.dir}/agent.crt`, `${s.dir}/agent.key`, {
      DENO_CERT: `${s.dir}/other-ca.crt`,
    }, relay.address);
    const m = await agent.waitFor(/proxy listening on (\S+)/, 30_000, "stdout");
    // The relay reached the real server, which answered the challenge for
    // the insider's certificate: the agent sees it is not its own.
    await agent.waitFor(/cannot connect to the server.*may be intercepted by a TLS proxy/, 30_000);
    assert.ok(relay.relayed() >= 1, "the relay never reached the server");
    await s.proc.waitFor(/link up.*agent=insider/, 10_000);
    await s.proc.waitFor(/identity proof rejected/, 10_000);
    assert.ok(!agent.stderr.some((l) => /tunnel up/.test(l)), "the agent used the relayed link");
    assert.ok(!s.proc.stderr.some((l) => /stream/.test(l)), "a stream crossed the relay");
    const res = await rawExchange(
      m[1]!,
      "GET http://127.0.0.1:9/ HTTP/1.1\r\nHost: 127.0.0.1:9\r\nConnection: close\r\n\r\n",
      { timeoutMs: 20_000 },
    );
    assert.match(res, /^HTTP\/1\.1 503 /);
  } finally {
    await agent?.stop();
    relay.close();
    await stopServer(s);
  }
});

Deno.test("agent: with an expired certificate it logs that the certificate was likely rejected", async () => {
  const pki = await makeTestPki();
  const s = await startServer(pki);
  const cert = `${s.dir}/expired.crt`, key = `${s.dir}/expired.key`;
  await Deno.writeTextFile(cert, pki.expiredAgent.certPem);
  await Deno.writeTextFile(key, pki.expiredAgent.keyPem, { mode: 0o600 });
  const agent = spawnAgent(s, cert, key);
  try {
    const m = await agent.waitFor(/cannot connect to the server.*/, 30_000, "stderr");
    assert.match(m[0], /likely rejected/);
    assert.match(m[0], /certificate/);
    await s.proc.waitFor(/TLS handshake refused/, 10_000);
    assert.ok(!agent.stderr.some((l) => /tunnel up/.test(l)));
  } finally {
    await agent.stop();
    await stopServer(s);
  }
});
