import assert from "node:assert/strict";
import { createCA, issueCert } from "./ca.ts";
import { pemBlocks } from "./pem.ts";
import { extendedKeyUsages, USAGE } from "./der.ts";

const der = (pem: string) => pemBlocks(pem)[0]!.der;

Deno.test("extendedKeyUsages() reads serverAuth, clientAuth, both, and none", async () => {
  const ca = await createCA({ name: "DER Test CA" });
  const server = await issueCert(ca, { kind: "server", name: "fluidity-server" });
  const agent = await issueCert(ca, { kind: "agent", name: "a1" });
  const both = await issueCert(ca, {
    kind: "agent",
    name: "b",
    ekus: ["clientAuth", "serverAuth"],
  });
  const rsa = await issueCert(ca, { kind: "server", name: "s", keyType: "rsa-3072" });
  assert.deepEqual(extendedKeyUsages(der(server.certPem)), [USAGE.serverAuth]);
  assert.deepEqual(extendedKeyUsages(der(agent.certPem)), [USAGE.clientAuth]);
  assert.deepEqual(extendedKeyUsages(der(both.certPem)), [USAGE.clientAuth, USAGE.serverAuth]);
  assert.deepEqual(extendedKeyUsages(der(rsa.certPem)), [USAGE.serverAuth]);
  // The CA certificate carries no EKU extension at all.
  assert.equal(extendedKeyUsages(der(ca.certPem)), undefined);
});

Deno.test("extendedKeyUsages() throws on truncated or non-certificate DER", async () => {
  const ca = await createCA({ name: "DER Test CA" });
  const cert = der((await issueCert(ca, { kind: "server", name: "x" })).certPem);
  for (const cut of [0, 1, 2, 10, cert.length - 1]) {
    assert.throws(() => extendedKeyUsages(cert.subarray(0, cut)), /DER/, `cut at ${cut}`);
  }
  assert.throws(() => extendedKeyUsages(new Uint8Array([0x02, 0x01, 0x00])), /not a DER/);
  assert.throws(() => extendedKeyUsages(new Uint8Array([0x30, 0x84, 0xff, 0xff, 0xff, 0xff])));
});
