import assert from "node:assert/strict";
import tls from "node:tls";
import type { AddressInfo } from "node:net";
import { createCA, issueCert } from "./ca.ts";
import { makeTestPki, type TestPki, writeTestPki } from "./test_pki.ts";

const OPENSSL = Deno.env.get("OPENSSL") ?? "openssl";

async function openssl(args: string[]): Promise<{ code: number; output: string }> {
  const out = await new Deno.Command(OPENSSL, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: out.code, output: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

async function verify(
  caPem: string,
  certPem: string,
  purpose: "sslserver" | "sslclient",
): Promise<{ code: number; output: string }> {
  const dir = await Deno.makeTempDir({ prefix: "fluidity-verify-" });
  try {
    await Deno.writeTextFile(`${dir}/ca.crt`, caPem);
    await Deno.writeTextFile(`${dir}/leaf.crt`, certPem);
    return await openssl([
      "verify",
      "-CAfile",
      `${dir}/ca.crt`,
      "-purpose",
      purpose,
      `${dir}/leaf.crt`,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("makeTestPki() certificates pass and fail openssl verify as intended", async (t) => {
  const pki = await makeTestPki();
  await t.step("server cert verifies for sslserver", async () => {
    const r = await verify(pki.ca.certPem, pki.server.certPem, "sslserver");
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /: OK/);
  });
  await t.step("agent cert verifies for sslclient", async () => {
    const r = await verify(pki.ca.certPem, pki.agent.certPem, "sslclient");
    assert.equal(r.code, 0, r.output);
  });
  await t.step("serverAuth-only agent cert fails sslclient", async () => {
    const r = await verify(pki.ca.certPem, pki.serverAuthOnlyAgent.certPem, "sslclient");
    assert.notEqual(r.code, 0, r.output);
    assert.match(r.output, /unsuitable certificate purpose/);
  });
  await t.step("server cert fails sslclient and agent cert fails sslserver", async () => {
    assert.notEqual((await verify(pki.ca.certPem, pki.server.certPem, "sslclient")).code, 0);
    assert.notEqual((await verify(pki.ca.certPem, pki.agent.certPem, "sslserver")).code, 0);
  });
  await t.step("expired agent cert fails", async () => {
    const r = await verify(pki.ca.certPem, pki.expiredAgent.certPem, "sslclient");
    assert.notEqual(r.code, 0);
    assert.match(r.output, /expired/);
  });
  await t.step("other CA's certs fail against our CA and pass against theirs", async () => {
    assert.notEqual((await verify(pki.ca.certPem, pki.otherAgent.certPem, "sslclient")).code, 0);
    assert.equal((await verify(pki.otherCa.certPem, pki.otherAgent.certPem, "sslclient")).code, 0);
    assert.equal(
      (await verify(pki.otherCa.certPem, pki.otherServer.certPem, "sslserver")).code,
      0,
    );
  });
  await t.step("server cert matches the host names and IP it should", async () => {
    const dir = await Deno.makeTempDir({ prefix: "fluidity-verify-" });
    try {
      await Deno.writeTextFile(`${dir}/ca.crt`, pki.ca.certPem);
      await Deno.writeTextFile(`${dir}/s.crt`, pki.server.certPem);
      const base = ["verify", "-CAfile", `${dir}/ca.crt`, "-purpose", "sslserver"];
      for (const host of ["fluidity-server", "localhost"]) {
        assert.equal((await openssl([...base, "-verify_hostname", host, `${dir}/s.crt`])).code, 0);
      }
      assert.equal((await openssl([...base, "-verify_ip", "127.0.0.1", `${dir}/s.crt`])).code, 0);
      assert.notEqual(
        (await openssl([...base, "-verify_hostname", "evil", `${dir}/s.crt`])).code,
        0,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

interface HandshakeResult {
  ok: boolean;
  error?: string;
  protocol?: string | null;
  peerCn?: string;
}

/** A node:tls mTLS server and client as the tunnel uses them; resolves with what the client saw. */
async function handshake(
  pki: TestPki,
  client: { cert: string; key: string; ca?: string },
  server: { cert: string; key: string } = { cert: pki.server.certPem, key: pki.server.keyPem },
): Promise<HandshakeResult> {
  let peerCn: string | undefined;
  const srv = tls.createServer({
    cert: server.cert,
    key: server.key,
    ca: [pki.ca.certPem],
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: "TLSv1.3",
  }, (socket) => {
    const subject = socket.getPeerCertificate().subject as unknown as { CN?: string } | undefined;
    peerCn = subject?.CN;
    socket.end("hello");
  });
  srv.on("tlsClientError", () => {});
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const port = (srv.address() as AddressInfo).port;
  try {
    return await new Promise<HandshakeResult>((resolve) => {
      const sock = tls.connect({
        host: "127.0.0.1",
        port,
        ca: [client.ca ?? pki.ca.certPem],
        servername: "fluidity-server",
        cert: client.cert,
        key: client.key,
        minVersion: "TLSv1.3",
      });
      let data = "";
      let protocol: string | null = null;
      sock.on("secureConnect", () => {
        protocol = sock.getProtocol();
      });
      sock.on("data", (d) => (data += d));
      sock.on("error", (e) => {
        sock.destroy();
        resolve({ ok: false, error: e.message });
      });
      sock.on("close", () => {
        if (data === "hello") resolve({ ok: true, protocol, peerCn });
        else resolve({ ok: false, error: "closed before data" });
      });
    });
  } finally {
    await new Promise<void>((resolve) => srv.close(() => resolve()));
  }
}

Deno.test("makeTestPki() certificates complete a TLS 1.3 mTLS handshake over node:tls", async () => {
  const pki = await makeTestPki();
  const r = await handshake(pki, { cert: pki.agent.certPem, key: pki.agent.keyPem });
  assert.deepEqual(r, { ok: true, protocol: "TLSv1.3", peerCn: "agent" });
});

Deno.test("mTLS server rejects the other CA's, expired and serverAuth-only agent certs", async () => {
  const pki = await makeTestPki();
  for (const bad of [pki.otherAgent, pki.expiredAgent, pki.serverAuthOnlyAgent]) {
    const r = await handshake(pki, { cert: bad.certPem, key: bad.keyPem });
    assert.equal(r.ok, false, JSON.stringify(r));
  }
});

Deno.test("a client pinned to the private CA refuses the other CA's server", async () => {
  const pki = await makeTestPki();
  const r = await handshake(pki, { cert: pki.agent.certPem, key: pki.agent.keyPem }, {
    cert: pki.otherServer.certPem,
    key: pki.otherServer.keyPem,
  });
  assert.equal(r.ok, false);
  assert.match(r.error ?? "", /certificate/i);
});

Deno.test("writeTestPki() writes the five files, keys mode 0600", async () => {
  const pki = await makeTestPki();
  const dir = await Deno.makeTempDir({ prefix: "fluidity-pki-" });
  try {
    assert.equal(await writeTestPki(pki, dir), dir);
    assert.equal(await Deno.readTextFile(`${dir}/ca.crt`), pki.ca.certPem);
    assert.equal(await Deno.readTextFile(`${dir}/server.key`), pki.server.keyPem);
    assert.equal(await Deno.readTextFile(`${dir}/agent.crt`), pki.agent.certPem);
    if (Deno.build.os !== "windows") {
      assert.equal((await Deno.stat(`${dir}/server.key`)).mode! & 0o777, 0o600);
      assert.equal((await Deno.stat(`${dir}/agent.key`)).mode! & 0o777, 0o600);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("RSA-3072 CA and certificates also complete the TLS 1.3 mTLS handshake", async () => {
  const base = await makeTestPki();
  const ca = await createCA({ keyType: "rsa-3072" });
  const [server, agent] = await Promise.all([
    issueCert(ca, { kind: "server", name: "fluidity-server", keyType: "rsa-3072" }),
    issueCert(ca, { kind: "agent", name: "rsa-agent", keyType: "rsa-3072" }),
  ]);
  const pki = { ...base, ca, server, agent };
  const r = await handshake(pki, { cert: agent.certPem, key: agent.keyPem });
  assert.deepEqual(r, { ok: true, protocol: "TLSv1.3", peerCn: "rsa-agent" });
});
