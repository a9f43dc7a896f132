import assert from "node:assert/strict";
import { ConfigError } from "../errors.ts";
import { resolveConfig } from "../config/schema.ts";
import { SERVER_FIELDS } from "../config/server_config.ts";
import { createCA, issueCert } from "./ca.ts";
import { isPemText, loadPem, pemBlocks } from "./pem.ts";

const ca = await createCA();
const leaf = await issueCert(ca, { kind: "agent", name: "pem-test" });

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "fluidity-pem-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("loadPem() reads a certificate and a key from files", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/a.crt`, leaf.certPem);
    await Deno.writeTextFile(`${dir}/a.key`, leaf.keyPem);
    assert.equal(await loadPem(`${dir}/a.crt`, "tls.cert (--cert)", "certificate"), leaf.certPem);
    assert.equal(await loadPem(`${dir}/a.key`, "tls.key (--key)", "private key"), leaf.keyPem);
  });
});

Deno.test("loadPem() takes PEM text from FLUIDITY_TLS_* through the config resolver", async () => {
  const values = resolveConfig(SERVER_FIELDS, {
    env: {
      FLUIDITY_TLS_CERT: leaf.certPem,
      FLUIDITY_TLS_KEY: leaf.keyPem,
      FLUIDITY_TLS_CA: ca.certPem,
    },
  });
  const cert = await loadPem(values["tls.cert"] as string, "tls.cert", "certificate");
  const key = await loadPem(values["tls.key"] as string, "tls.key", "private key");
  const caPem = await loadPem(values["tls.ca"] as string, "tls.ca", "certificate");
  assert.equal(cert, leaf.certPem);
  assert.equal(key, leaf.keyPem);
  assert.equal(caPem, ca.certPem);
});

Deno.test("loadPem() accepts env text with \\n escapes and CRLF line ends", async () => {
  const escaped = leaf.certPem.trim().replaceAll("\n", "\\n");
  assert.equal((await loadPem(escaped, "tls.cert", "certificate")).trim(), leaf.certPem.trim());
  const crlf = leaf.keyPem.replaceAll("\n", "\r\n");
  assert.equal(await loadPem(crlf, "tls.key", "private key"), leaf.keyPem);
});

Deno.test("loadPem() accepts a bundle of several certificates", async () => {
  const bundle = ca.certPem + leaf.certPem;
  assert.equal(await loadPem(bundle, "tls.ca", "certificate"), bundle);
  assert.equal(pemBlocks(bundle).length, 2);
});

Deno.test("loadPem() names the setting and path of a missing file", async () => {
  await assert.rejects(
    loadPem("/nonexistent/server.crt", "tls.cert (--cert)", "certificate"),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(
        e.message,
        'tls.cert (--cert): cannot read certificate file "/nonexistent/server.crt": no such file',
      );
      return true;
    },
  );
});

Deno.test("loadPem() rejects a directory, an empty value and non-PEM content", async () => {
  await withDir(async (dir) => {
    await assert.rejects(
      loadPem(dir, "tls.ca", "certificate"),
      /tls\.ca: cannot read.*: is a directory/,
    );
    await assert.rejects(loadPem("", "tls.ca", "certificate"), /tls\.ca: empty/);
    await Deno.writeTextFile(`${dir}/junk.crt`, "hello\n");
    await assert.rejects(
      loadPem(`${dir}/junk.crt`, "tls.cert (--cert)", "certificate"),
      new RegExp(`^ConfigError: tls\\.cert \\(--cert\\): ".*junk\\.crt" is not a PEM certificate`),
    );
  });
});

Deno.test("loadPem() rejects a key given as a certificate and the reverse, without echoing the key", async () => {
  await assert.rejects(loadPem(leaf.keyPem, "tls.cert", "certificate"), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.match(
      e.message,
      /tls\.cert: the PEM text given holds a private key where a certificate/,
    );
    assert.ok(!e.message.includes(leaf.keyPem.split("\n")[1]!));
    return true;
  });
  await assert.rejects(
    loadPem(leaf.certPem, "tls.key", "private key"),
    /holds a certificate where a private key was expected/,
  );
  await assert.rejects(
    loadPem(
      "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
      "k",
      "private key",
    ),
    /encrypted private key/,
  );
});

Deno.test("loadPem() rejects a certificate block that is not X.509", async () => {
  const fake = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  await assert.rejects(loadPem(fake, "tls.ca", "certificate"), /does not parse as X\.509/);
});

Deno.test("isPemText() tells PEM text from a path", () => {
  assert.equal(isPemText("  -----BEGIN CERTIFICATE-----\n"), true);
  assert.equal(isPemText("certs/ca.crt"), false);
});
