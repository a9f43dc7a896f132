import "reflect-metadata";
import assert from "node:assert/strict";
import * as x509 from "@peculiar/x509";
import { ConfigError } from "../errors.ts";
import { createCA } from "./ca.ts";
import { ensureLocalPki, readCa, writeFilesAtomic, writeIssued, writeNewCa } from "./files.ts";

const isWindows = Deno.build.os === "windows";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "fluidity-files-" });
  try {
    await fn(dir);
  } finally {
    await Deno.chmod(dir, 0o700).catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
}

async function list(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

function mode(path: string): number {
  return Deno.statSync(path).mode! & 0o777;
}

async function openssl(args: string[]): Promise<number> {
  return (await new Deno.Command(Deno.env.get("OPENSSL") ?? "openssl", {
    args,
    stdout: "null",
    stderr: "null",
  })
    .output()).code;
}

Deno.test("writeFilesAtomic() writes keys 0600 and certificates 0644, leaving no temp files", async () => {
  await withDir(async (dir) => {
    await writeFilesAtomic([
      { path: `${dir}/a.crt`, text: "cert\n" },
      { path: `${dir}/a.key`, text: "key\n", secret: true },
    ]);
    assert.deepEqual(await list(dir), ["a.crt", "a.key"]);
    assert.equal(await Deno.readTextFile(`${dir}/a.key`), "key\n");
    if (!isWindows) {
      assert.equal(mode(`${dir}/a.key`), 0o600);
      assert.equal(mode(`${dir}/a.crt`), 0o644);
    }
  });
});

Deno.test("writeFilesAtomic() refuses to overwrite and writes none of the batch", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/a.key`, "old");
    await assert.rejects(
      writeFilesAtomic([
        { path: `${dir}/a.crt`, text: "new" },
        { path: `${dir}/a.key`, text: "new", secret: true },
      ]),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.equal(
          e.message,
          `refusing to overwrite "${dir}/a.key": it exists (use --force to replace)`,
        );
        return true;
      },
    );
    assert.deepEqual(await list(dir), ["a.key"]);
    assert.equal(await Deno.readTextFile(`${dir}/a.key`), "old");
  });
});

Deno.test("writeFilesAtomic() with force replaces a file and tightens a key's mode", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/a.key`, "old", { mode: 0o644 });
    await writeFilesAtomic([{ path: `${dir}/a.key`, text: "new", secret: true }], { force: true });
    assert.equal(await Deno.readTextFile(`${dir}/a.key`), "new");
    if (!isWindows) assert.equal(mode(`${dir}/a.key`), 0o600);
  });
});

Deno.test("writeFilesAtomic() failing on a later file leaves no file and no temp behind", async () => {
  await withDir(async (dir) => {
    await assert.rejects(
      writeFilesAtomic([
        { path: `${dir}/a.crt`, text: "x" },
        { path: `${dir}/missing/b.crt`, text: "y" },
      ]),
      new RegExp(`cannot write "${dir}/missing/b\\.crt": no such file or directory`),
    );
    assert.deepEqual(await list(dir), []);
  });
});

Deno.test("writeNewCa() refuses an existing CA and leaves it untouched", async () => {
  await withDir(async (dir) => {
    const first = await writeNewCa(dir);
    await assert.rejects(writeNewCa(dir), /refusing to overwrite .*ca\.crt.* and .*ca\.key/);
    assert.equal(await Deno.readTextFile(`${dir}/ca.crt`), first.pair.certPem);
    const second = await writeNewCa(dir, { force: true });
    assert.notEqual(second.pair.certPem, first.pair.certPem);
    assert.equal(await Deno.readTextFile(`${dir}/ca.crt`), second.pair.certPem);
  });
});

Deno.test("writeNewCa() creates a missing directory (mode 0700) and cannot use a file as one", async () => {
  await withDir(async (dir) => {
    await writeNewCa(`${dir}/nested/certs`);
    assert.deepEqual(await list(`${dir}/nested/certs`), ["ca.crt", "ca.key"]);
    if (!isWindows) assert.equal(mode(`${dir}/nested/certs`), 0o700);
    await Deno.writeTextFile(`${dir}/file`, "");
    await assert.rejects(writeNewCa(`${dir}/file`), /"[^"]*\/file" is not a directory/);
    await assert.rejects(
      writeNewCa(`${dir}/file/certs`),
      /cannot (use|create) directory "[^"]*\/file\/certs": not a directory/,
    );
    assert.deepEqual(await list(dir), ["file", "nested"]);
  });
});

Deno.test("writeIssued() needs the CA and names the missing file", async () => {
  await withDir(async (dir) => {
    await assert.rejects(
      writeIssued(dir, { kind: "agent", name: "a" }),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.match(
          e.message,
          /^no CA in ".*": ".*\/ca\.crt" not found \(run 'fluidity certs init --dir .*' first\)$/,
        );
        return true;
      },
    );
    assert.deepEqual(await list(dir), []);
  });
});

Deno.test("writeIssued() will not let an agent name take over the CA or server files", async () => {
  await withDir(async (dir) => {
    await writeNewCa(dir);
    for (const name of ["ca", "CA", "server"]) {
      await assert.rejects(
        writeIssued(dir, { kind: "agent", name, force: true }),
        new RegExp(`agent name "${name}" would clash with ${name}\\.crt`),
      );
    }
    assert.deepEqual(await list(dir), ["ca.crt", "ca.key"]);
  });
});

Deno.test("readCa() rejects a key that belongs to another CA", async () => {
  await withDir(async (dir) => {
    await writeNewCa(dir);
    const other = await createCA();
    await Deno.writeTextFile(`${dir}/ca.key`, other.keyPem);
    await assert.rejects(readCa(dir), /ca\.key": CA private key does not match the CA certificate/);
    await assert.rejects(writeIssued(dir, { kind: "agent", name: "a" }), ConfigError);
    assert.deepEqual(await list(dir), ["ca.crt", "ca.key"]);
  });
});

Deno.test("ensureLocalPki() creates CA, server and agent once, then leaves them alone", async () => {
  await withDir(async (root) => {
    const dir = `${root}/certs`;
    const lines: string[] = [];
    assert.deepEqual(await ensureLocalPki(dir, (l) => lines.push(l)), { created: true });
    assert.equal(lines.length, 3);
    assert.deepEqual(await list(dir), [
      "agent.crt",
      "agent.key",
      "ca.crt",
      "ca.key",
      "server.crt",
      "server.key",
    ]);
    const server = new x509.X509Certificate(await Deno.readTextFile(`${dir}/server.crt`));
    const sans = server.getExtension(x509.SubjectAlternativeNameExtension)!.names.toJSON();
    assert.deepEqual(sans.map((s) => s.value), ["fluidity-server", "localhost", "127.0.0.1"]);
    assert.equal(
      await openssl([
        "verify",
        "-CAfile",
        `${dir}/ca.crt`,
        "-purpose",
        "sslserver",
        `${dir}/server.crt`,
      ]),
      0,
    );
    assert.equal(
      await openssl([
        "verify",
        "-CAfile",
        `${dir}/ca.crt`,
        "-purpose",
        "sslclient",
        `${dir}/agent.crt`,
      ]),
      0,
    );
    const before = await Deno.readTextFile(`${dir}/server.crt`);
    assert.deepEqual(await ensureLocalPki(dir), { created: false });
    assert.equal(await Deno.readTextFile(`${dir}/server.crt`), before);

    // A missing agent certificate is re-issued from the same CA.
    const ca = await Deno.readTextFile(`${dir}/ca.crt`);
    await Deno.remove(`${dir}/agent.key`);
    await assert.rejects(
      ensureLocalPki(dir),
      /agent\.crt" exists without ".*agent\.key"; remove it to have a new pair made/,
    );
    await Deno.remove(`${dir}/agent.crt`);
    assert.deepEqual(await ensureLocalPki(dir), { created: true });
    assert.equal(await Deno.readTextFile(`${dir}/ca.crt`), ca);
    assert.equal(
      await openssl([
        "verify",
        "-CAfile",
        `${dir}/ca.crt`,
        "-purpose",
        "sslclient",
        `${dir}/agent.crt`,
      ]),
      0,
    );
  });
});

Deno.test("ensureLocalPki() refuses certificates from another CA or without a CA", async () => {
  await withDir(async (root) => {
    const dir = `${root}/certs`;
    await ensureLocalPki(dir);
    const other = `${root}/other`;
    await ensureLocalPki(other);
    await Deno.copyFile(`${other}/agent.crt`, `${dir}/agent.crt`);
    await Deno.copyFile(`${other}/agent.key`, `${dir}/agent.key`);
    await assert.rejects(ensureLocalPki(dir), /agent\.crt" is not a certificate signed by/);

    await Deno.remove(`${other}/ca.crt`);
    await assert.rejects(ensureLocalPki(other), /ca\.key" exists without ".*ca\.crt"/);
    await Deno.remove(`${other}/ca.key`);
    await assert.rejects(ensureLocalPki(other), /holds certificates but no ca\.crt/);
  });
});
