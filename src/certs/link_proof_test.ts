import assert from "node:assert/strict";
import { AUTH_NONCE_SIZE, type AuthProof } from "../tunnel/frames.ts";
import { createCA, issueCert, type PemPair } from "./ca.ts";
import { pemBlocks } from "./pem.ts";
import { linkProver, proofCheck, ProofError } from "./link_proof.ts";

const der = (pem: string) => pemBlocks(pem)[0]!.der;

async function pki() {
  const ca = await createCA({ name: "Proof Test CA" });
  const otherCa = await createCA({ name: "Other Proof CA" });
  const names = { dns: ["localhost"], ips: ["127.0.0.1"] };
  return {
    ca,
    server: await issueCert(ca, { kind: "server", name: "fluidity-server", ...names }),
    agent: await issueCert(ca, { kind: "agent", name: "agent-1" }),
    otherAgent: await issueCert(ca, { kind: "agent", name: "agent-2" }),
    rogue: await issueCert(otherCa, { kind: "server", name: "fluidity-server", ...names }),
  };
}

/** What the server answers when it saw `client` on its TLS link. */
function answer(server: PemPair, nonce: Uint8Array, client: PemPair): AuthProof {
  return linkProver(server.certPem, server.keyPem)(nonce, der(client.certPem));
}

Deno.test("proofCheck() accepts the real server's answer by name and by IP", async () => {
  const p = await pki();
  for (const serverName of ["fluidity-server", "localhost", "127.0.0.1"]) {
    const check = proofCheck({ caPem: p.ca.certPem, serverName, agentCertPem: p.agent.certPem });
    assert.equal(check.nonce.length, AUTH_NONCE_SIZE);
    check.verify(answer(p.server, check.nonce, p.agent));
  }
});

Deno.test("proofCheck() accepts RSA server keys", async () => {
  const ca = await createCA({ name: "RSA CA", keyType: "rsa-3072" });
  const server = await issueCert(ca, {
    kind: "server",
    name: "fluidity-server",
    keyType: "rsa-3072",
  });
  const agent = await issueCert(ca, { kind: "agent", name: "a" });
  const check = proofCheck({
    caPem: ca.certPem,
    serverName: "fluidity-server",
    agentCertPem: agent.certPem,
  });
  check.verify(answer(server, check.nonce, agent));
});

Deno.test("proofCheck() refuses every answer that does not prove the server", async (t) => {
  const p = await pki();
  const expect = (serverName = "fluidity-server", now?: () => number) =>
    proofCheck({ caPem: p.ca.certPem, serverName, agentCertPem: p.agent.certPem, now });
  const refuses = (fn: () => void, re: RegExp) =>
    assert.throws(fn, (e: unknown) => e instanceof ProofError && re.test(e.message));

  await t.step("a certificate from another CA (trusted by the system, not by tls.ca)", () => {
    const c = expect();
    refuses(() => c.verify(answer(p.rogue, c.nonce, p.agent)), /does not trust.*private CA/);
  });
  await t.step("a name the certificate does not carry", () => {
    const c = expect("tunnel.example.com");
    refuses(
      () => c.verify(answer(p.server, c.nonce, p.agent)),
      /not issued for "tunnel\.example\.com"/,
    );
  });
  await t.step("an expired or not yet valid certificate", () => {
    const later = expect("fluidity-server", () => Date.now() + 3000 * 86_400_000);
    refuses(() => later.verify(answer(p.server, later.nonce, p.agent)), /not valid now/);
    const earlier = expect("fluidity-server", () => Date.now() - 86_400_000);
    refuses(() => earlier.verify(answer(p.server, earlier.nonce, p.agent)), /not valid now/);
  });
  await t.step("another agent's certificate (clientAuth only) used as the server's", async () => {
    const impostor = await issueCert(p.ca, { kind: "agent", name: "fluidity-server" });
    const named = await issueCert(p.ca, {
      kind: "agent",
      name: "x",
      dns: ["fluidity-server"],
    });
    const c1 = expect();
    refuses(() => c1.verify(answer(impostor, c1.nonce, p.agent)), /serverAuth|not issued for/);
    const c2 = expect();
    refuses(() => c2.verify(answer(named, c2.nonce, p.agent)), /not allowed for serverAuth/);
  });
  await t.step("a relayed answer: the real server saw another client certificate", () => {
    // A TLS-intercepting proxy with a system-trusted certificate connects to
    // the real server with its own valid client certificate and relays the
    // challenge: the server binds its answer to what it saw.
    const c = expect();
    refuses(() => c.verify(answer(p.server, c.nonce, p.otherAgent)), /intercepted/);
  });
  await t.step("an answer to another challenge (replay)", () => {
    const c = expect();
    const old = answer(p.server, new Uint8Array(AUTH_NONCE_SIZE), p.agent);
    refuses(() => c.verify(old), /intercepted/);
  });
  await t.step("a signature by another key, garbage signature and garbage certificate", () => {
    const c = expect();
    const real = answer(p.server, c.nonce, p.agent);
    const byAgentKey = linkProver(p.server.certPem, p.agent.keyPem)(c.nonce, der(p.agent.certPem));
    refuses(() => c.verify(byAgentKey), /intercepted|does not match/);
    refuses(() => c.verify({ cert: real.cert, signature: new Uint8Array(64) }), /intercepted/);
    refuses(
      () => c.verify({ cert: new Uint8Array([1, 2, 3]), signature: real.signature }),
      /parse/,
    );
  });
});

Deno.test("linkProver() refuses a challenge of the wrong size", async () => {
  const p = await pki();
  const prove = linkProver(p.server.certPem, p.server.keyPem);
  assert.throws(() => prove(new Uint8Array(8), der(p.agent.certPem)), /AUTH challenge of 8 bytes/);
});
