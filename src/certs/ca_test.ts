import "reflect-metadata";
import assert from "node:assert/strict";
import * as x509 from "@peculiar/x509";
import { checkCaPair, createCA, issueCert } from "./ca.ts";

const DAY_MS = 86_400_000;

Deno.test("createCA() makes a P-256 CA: CA:TRUE pathlen 0, keyCertSign|cRLSign, 10 years", async () => {
  const ca = await createCA();
  assert.match(ca.certPem, /^-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n$/);
  assert.match(ca.keyPem, /^-----BEGIN PRIVATE KEY-----\n[\s\S]+-----END PRIVATE KEY-----\n$/);
  const cert = new x509.X509Certificate(ca.certPem);
  assert.equal(cert.subject, "CN=Fluidity CA");
  assert.equal(cert.issuer, "CN=Fluidity CA");
  const basic = cert.getExtension(x509.BasicConstraintsExtension)!;
  assert.equal(basic.ca, true);
  assert.equal(basic.pathLength, 0);
  assert.equal(basic.critical, true);
  const ku = cert.getExtension(x509.KeyUsagesExtension)!;
  assert.equal(ku.usages, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
  assert.deepEqual(cert.publicKey.algorithm, { name: "ECDSA", namedCurve: "P-256" });
  const days = (cert.notAfter.getTime() - cert.notBefore.getTime()) / DAY_MS;
  assert.ok(Math.abs(days - 3650) < 1, `validity ${days} days`);
  assert.ok(await cert.isSelfSigned());
});

Deno.test("createCA() serials are random 128-bit positive numbers", async () => {
  const [a, b] = await Promise.all([createCA(), createCA()]);
  const sa = new x509.X509Certificate(a.certPem).serialNumber;
  const sb = new x509.X509Certificate(b.certPem).serialNumber;
  assert.notEqual(sa, sb);
  assert.equal(sa.length, 32);
  assert.match(sa, /^[4-7]/);
});

Deno.test("createCA() with rsa-3072 makes an RSA CA that issues certificates", async () => {
  const ca = await createCA({ keyType: "rsa-3072", name: "RSA CA" });
  const cert = new x509.X509Certificate(ca.certPem);
  const alg = cert.publicKey.algorithm as RsaKeyAlgorithm;
  assert.equal(alg.name, "RSASSA-PKCS1-v1_5");
  assert.equal(alg.modulusLength, 3072);
  const leaf = await issueCert(ca, { kind: "agent", name: "a" });
  assert.ok(await new x509.X509Certificate(leaf.certPem).verify({ publicKey: cert.publicKey }));
});

Deno.test("issueCert() server: serverAuth EKU, digitalSignature, SANs name + dns + ips", async () => {
  const ca = await createCA();
  const pair = await issueCert(ca, {
    kind: "server",
    name: "fluidity-server",
    dns: ["localhost", "tunnel.example.com"],
    ips: ["127.0.0.1", "::1"],
  });
  const cert = new x509.X509Certificate(pair.certPem);
  const caCert = new x509.X509Certificate(ca.certPem);
  assert.equal(cert.subject, "CN=fluidity-server");
  assert.equal(cert.issuer, caCert.subject);
  assert.ok(await cert.verify({ publicKey: caCert.publicKey }));
  assert.deepEqual([...cert.getExtension(x509.ExtendedKeyUsageExtension)!.usages], [
    x509.ExtendedKeyUsage.serverAuth,
  ]);
  assert.equal(
    cert.getExtension(x509.KeyUsagesExtension)!.usages,
    x509.KeyUsageFlags.digitalSignature,
  );
  assert.equal(cert.getExtension(x509.BasicConstraintsExtension)!.ca, false);
  const sans = cert.getExtension(x509.SubjectAlternativeNameExtension)!.names.toJSON();
  assert.deepEqual(sans, [
    { type: "dns", value: "fluidity-server" },
    { type: "dns", value: "localhost" },
    { type: "dns", value: "tunnel.example.com" },
    { type: "ip", value: "127.0.0.1" },
    { type: "ip", value: "::1" },
  ]);
  const days = (cert.notAfter.getTime() - cert.notBefore.getTime()) / DAY_MS;
  assert.ok(Math.abs(days - 825) < 1, `validity ${days} days`);
});

Deno.test("issueCert() agent: clientAuth EKU, CN = name, no SAN", async () => {
  const ca = await createCA();
  const cert = new x509.X509Certificate(
    (await issueCert(ca, { kind: "agent", name: "laptop" })).certPem,
  );
  assert.equal(cert.subject, "CN=laptop");
  assert.deepEqual([...cert.getExtension(x509.ExtendedKeyUsageExtension)!.usages], [
    x509.ExtendedKeyUsage.clientAuth,
  ]);
  assert.equal(cert.getExtension(x509.SubjectAlternativeNameExtension), null);
});

Deno.test("issueCert() honours notBefore/notAfter and ekus overrides", async () => {
  const ca = await createCA();
  const notBefore = new Date(Date.UTC(2020, 0, 1));
  const notAfter = new Date(Date.UTC(2020, 1, 1));
  const cert = new x509.X509Certificate(
    (await issueCert(ca, {
      kind: "agent",
      name: "old",
      notBefore,
      notAfter,
      ekus: ["serverAuth", "clientAuth"],
    })).certPem,
  );
  assert.equal(cert.notBefore.getTime(), notBefore.getTime());
  assert.equal(cert.notAfter.getTime(), notAfter.getTime());
  assert.equal(cert.getExtension(x509.ExtendedKeyUsageExtension)!.usages.length, 2);
});

Deno.test("issueCert() caps the validity at the CA's expiry", async () => {
  const ca = await createCA({ days: 10 });
  const caCert = new x509.X509Certificate(ca.certPem);
  const cert = new x509.X509Certificate(
    (await issueCert(ca, { kind: "agent", name: "a" })).certPem,
  );
  assert.equal(cert.notAfter.getTime(), caCert.notAfter.getTime());
});

Deno.test("issueCert() rejects bad names, IPs and days with the value in the message", async () => {
  const ca = await createCA();
  await assert.rejects(
    issueCert(ca, { kind: "server", name: "s", ips: ["300.1.2.3"] }),
    /Invalid IP address "300\.1\.2\.3"/,
  );
  await assert.rejects(
    issueCert(ca, { kind: "server", name: "s", dns: ["bad_name!"] }),
    /Invalid DNS name "bad_name!"/,
  );
  await assert.rejects(issueCert(ca, { kind: "agent", name: "a", days: 0 }), RangeError);
  await assert.rejects(issueCert(ca, { kind: "agent", name: "a", days: 1.5 }), RangeError);
});

Deno.test("issueCert() rejects a CA key that does not match the CA certificate", async () => {
  const [a, b] = await Promise.all([createCA(), createCA()]);
  const mixed = { certPem: a.certPem, keyPem: b.keyPem };
  await assert.rejects(checkCaPair(mixed), /does not match/);
  await assert.rejects(issueCert(mixed, { kind: "agent", name: "x" }), /does not match/);
});

Deno.test("issueCert() refuses to sign with a leaf certificate", async () => {
  const ca = await createCA();
  const leaf = await issueCert(ca, { kind: "agent", name: "x" });
  await assert.rejects(issueCert(leaf, { kind: "agent", name: "y" }), /is not a CA/);
});
