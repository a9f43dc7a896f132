import assert from "node:assert/strict";
import { createCA, issueCert } from "./ca.ts";
import { describePem, EXPIRY_WARNING_DAYS, formatCertInfo } from "./show.ts";

const DAY_MS = 86_400_000;
const ca = await createCA();

Deno.test("describePem() reports subject, issuer, SANs, usages, validity and fingerprint", async () => {
  const pair = await issueCert(ca, {
    kind: "server",
    name: "fluidity-server",
    dns: ["localhost"],
    ips: ["127.0.0.1"],
  });
  const [info] = await describePem(pair.certPem);
  assert.ok(info);
  assert.equal(info.subject, "CN=fluidity-server");
  assert.equal(info.issuer, "CN=Fluidity CA");
  assert.equal(info.key, "ECDSA P-256");
  assert.equal(info.ca, false);
  assert.equal(info.selfSigned, false);
  assert.deepEqual(info.sans, ["DNS:fluidity-server", "DNS:localhost", "IP:127.0.0.1"]);
  assert.deepEqual(info.keyUsage, ["digitalSignature"]);
  assert.deepEqual(info.extendedKeyUsage, ["serverAuth"]);
  assert.deepEqual(info.warnings, []);
  assert.match(info.sha256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);

  // Same fingerprint as openssl prints.
  const dir = await Deno.makeTempDir({ prefix: "fluidity-show-" });
  try {
    await Deno.writeTextFile(`${dir}/s.crt`, pair.certPem);
    const out = await new Deno.Command(Deno.env.get("OPENSSL") ?? "openssl", {
      args: ["x509", "-in", `${dir}/s.crt`, "-noout", "-fingerprint", "-sha256"],
      stdout: "piped",
    }).output();
    assert.equal(new TextDecoder().decode(out.stdout).trim().split("=")[1], info.sha256);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("describePem() marks a CA as self-signed with its path length", async () => {
  const [info] = await describePem(ca.certPem);
  assert.equal(info!.ca, true);
  assert.equal(info!.pathLength, 0);
  assert.equal(info!.selfSigned, true);
  assert.deepEqual(info!.keyUsage, ["keyCertSign", "cRLSign"]);
  const lines = formatCertInfo(info!);
  assert.ok(lines.includes("CA:                 yes, path length 0"), lines.join("\n"));
  assert.match(lines.find((l) => l.startsWith("Issuer:"))!, /\(self-signed\)$/);
});

Deno.test(`describePem() warns within ${EXPIRY_WARNING_DAYS} days of expiry, when expired and before start`, async () => {
  const now = Date.now();
  const soon = await issueCert(ca, { kind: "agent", name: "soon", days: 10 });
  const expired = await issueCert(ca, {
    kind: "agent",
    name: "old",
    notBefore: new Date(now - 10 * DAY_MS),
    notAfter: new Date(now - 2 * DAY_MS),
  });
  const future = await issueCert(ca, {
    kind: "agent",
    name: "future",
    notBefore: new Date(now + 5 * DAY_MS),
    notAfter: new Date(now + 500 * DAY_MS),
  });
  const healthy = await issueCert(ca, { kind: "agent", name: "ok", days: 31 });
  const [s] = await describePem(soon.certPem);
  assert.match(s!.warnings[0]!, /^expires in 9 day\(s\), on /);
  const [e] = await describePem(expired.certPem);
  assert.match(e!.warnings[0]!, /^expired 2 day\(s\) ago/);
  assert.match(formatCertInfo(e!).find((l) => l.startsWith("Not after"))!, /\(expired\)$/);
  const [f] = await describePem(future.certPem);
  assert.match(f!.warnings[0]!, /^not valid until /);
  const [h] = await describePem(healthy.certPem);
  assert.deepEqual(h!.warnings, []);
});

Deno.test("describePem() describes every certificate of a bundle", async () => {
  const leaf = await issueCert(ca, { kind: "agent", name: "x" });
  const infos = await describePem(ca.certPem + leaf.certPem + leaf.keyPem);
  assert.deepEqual(infos.map((i) => i.subject), ["CN=Fluidity CA", "CN=x"]);
});

Deno.test("describePem() describes RSA keys", async () => {
  const rsa = await issueCert(ca, { kind: "agent", name: "r", keyType: "rsa-3072" });
  const [info] = await describePem(rsa.certPem);
  assert.equal(info!.key, "RSA 3072");
  assert.deepEqual(info!.keyUsage, ["digitalSignature", "keyEncipherment"]);
});
