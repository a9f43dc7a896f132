/**
 * `fluidity certs` end to end: in process through runCli, and once as a real
 * `deno run -A main.ts certs …` process. Issued files are checked with the
 * system openssl and used for a real TLS 1.3 mTLS handshake.
 */
import assert from "node:assert/strict";
import tls from "node:tls";
import type { AddressInfo } from "node:net";
import { runCli } from "../src/cli/dispatch.ts";
import { recordingContext } from "../src/cli/test_context.ts";
import { createCA, issueCert } from "../src/certs/ca.ts";
import { loadPem } from "../src/certs/pem.ts";

const OPENSSL = Deno.env.get("OPENSSL") ?? "openssl";
const isWindows = Deno.build.os === "windows";
const MAIN = new URL("../main.ts", import.meta.url).pathname;

async function fluidity(args: string[], env: Record<string, string> = {}) {
  const ctx = recordingContext(env);
  const code = await runCli(args, ctx);
  return { code, out: ctx.stdout.join("\n"), err: ctx.stderr.join("\n") };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "fluidity-certs-cli-" });
  try {
    await fn(dir);
  } finally {
    await Deno.chmod(dir, 0o700).catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
}

/** Names and contents of every file under `dir`, to prove a failure changed nothing. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string, prefix: string) => {
    for await (const e of Deno.readDir(d)) {
      if (e.isDirectory) await walk(`${d}/${e.name}`, `${prefix}${e.name}/`);
      else out[`${prefix}${e.name}`] = await Deno.readTextFile(`${d}/${e.name}`);
    }
  };
  await walk(dir, "");
  return out;
}

async function openssl(args: string[]): Promise<{ code: number; output: string }> {
  const r = await new Deno.Command(OPENSSL, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: r.code, output: dec.decode(r.stdout) + dec.decode(r.stderr) };
}

function mode(path: string): number {
  return Deno.statSync(path).mode! & 0o777;
}

/** One mTLS exchange with node:tls as the tunnel does it; returns the CN the server saw. */
async function mtlsExchange(
  server: { cert: string; key: string; ca: string },
  client: { cert: string; key: string; ca: string },
): Promise<{ protocol: string | null; peerCn: string | undefined; reply: string }> {
  let peerCn: string | undefined;
  const srv = tls.createServer({
    ...server,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: "TLSv1.3",
  }, (socket) => {
    peerCn = (socket.getPeerCertificate().subject as unknown as { CN?: string }).CN;
    socket.end("pong");
  });
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  try {
    return await new Promise((resolve, reject) => {
      const sock = tls.connect({
        host: "127.0.0.1",
        port: (srv.address() as AddressInfo).port,
        ca: [client.ca],
        servername: "fluidity-server",
        cert: client.cert,
        key: client.key,
        minVersion: "TLSv1.3",
      });
      let reply = "";
      let protocol: string | null = null;
      sock.on("secureConnect", () => (protocol = sock.getProtocol()));
      sock.on("data", (d) => (reply += d));
      sock.on("error", reject);
      sock.on("close", () => resolve({ protocol, peerCn, reply }));
    });
  } finally {
    await new Promise<void>((resolve) => srv.close(() => resolve()));
  }
}

Deno.test("certs init + issue server + issue agent: files, modes, openssl verify, TLS 1.3", async () => {
  await withDir(async (root) => {
    const dir = `${root}/certs`;
    const init = await fluidity(["certs", "init", "--dir", dir]);
    assert.equal(init.code, 0, init.err);
    assert.match(init.out, /created the private CA: .*ca\.crt and .*ca\.key \(key mode 0600\)/);
    assert.match(init.out, /SHA-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}/);

    const server = await fluidity([
      "certs",
      "issue",
      "server",
      "--dir",
      dir,
      "--dns",
      "localhost",
      "--dns",
      "tunnel.example.com",
      "--ip",
      "127.0.0.1",
    ]);
    assert.equal(server.code, 0, server.err);
    assert.match(server.out, /issued the server certificate: .*server\.crt and .*server\.key/);
    const agent = await fluidity(["certs", "issue", "agent", "--dir", dir]);
    assert.equal(agent.code, 0, agent.err);
    const laptop = await fluidity(["certs", "issue", "agent", "--dir", dir, "--name", "laptop"]);
    assert.equal(laptop.code, 0, laptop.err);

    assert.deepEqual(Object.keys(await snapshot(dir)).sort(), [
      "agent.crt",
      "agent.key",
      "ca.crt",
      "ca.key",
      "laptop.crt",
      "laptop.key",
      "server.crt",
      "server.key",
    ]);
    if (!isWindows) {
      for (const k of ["ca", "server", "agent", "laptop"]) {
        assert.equal(mode(`${dir}/${k}.key`), 0o600, `${k}.key`);
        assert.equal(mode(`${dir}/${k}.crt`), 0o644, `${k}.crt`);
      }
    }

    const verify = (purpose: string, file: string, ...extra: string[]) =>
      openssl([
        "verify",
        "-CAfile",
        `${dir}/ca.crt`,
        "-purpose",
        purpose,
        ...extra,
        `${dir}/${file}`,
      ]);
    for (const host of ["fluidity-server", "localhost", "tunnel.example.com"]) {
      const r = await verify("sslserver", "server.crt", "-verify_hostname", host);
      assert.equal(r.code, 0, r.output);
    }
    assert.equal((await verify("sslserver", "server.crt", "-verify_ip", "127.0.0.1")).code, 0);
    assert.equal((await verify("sslclient", "agent.crt")).code, 0);
    assert.equal((await verify("sslclient", "laptop.crt")).code, 0);
    assert.notEqual((await verify("sslclient", "server.crt")).code, 0);
    assert.notEqual((await verify("sslserver", "agent.crt")).code, 0);

    // Server material from files, agent material as PEM text (as FLUIDITY_TLS_* would carry it).
    const serverTls = {
      cert: await loadPem(`${dir}/server.crt`, "tls.cert", "certificate"),
      key: await loadPem(`${dir}/server.key`, "tls.key", "private key"),
      ca: await loadPem(`${dir}/ca.crt`, "tls.ca", "certificate"),
    };
    const agentTls = {
      cert: await loadPem(await Deno.readTextFile(`${dir}/laptop.crt`), "tls.cert", "certificate"),
      key: await loadPem(await Deno.readTextFile(`${dir}/laptop.key`), "tls.key", "private key"),
      ca: await loadPem(await Deno.readTextFile(`${dir}/ca.crt`), "tls.ca", "certificate"),
    };
    assert.deepEqual(await mtlsExchange(serverTls, agentTls), {
      protocol: "TLSv1.3",
      peerCn: "laptop",
      reply: "pong",
    });

    const show = await fluidity(["certs", "show", `${dir}/server.crt`]);
    assert.equal(show.code, 0, show.err);
    assert.match(show.out, /^Subject: +CN=fluidity-server$/m);
    assert.match(show.out, /^Issuer: +CN=Fluidity CA$/m);
    assert.match(
      show.out,
      /^SANs: +DNS:fluidity-server, DNS:localhost, DNS:tunnel\.example\.com, IP:127\.0\.0\.1$/m,
    );
    assert.match(show.out, /^Extended key usage: +serverAuth \(TLS server\)$/m);
    assert.match(show.out, /^Not after: +\S+ \(82[45] days left\)$/m);
    const fp =
      (await openssl(["x509", "-in", `${dir}/server.crt`, "-noout", "-fingerprint", "-sha256"]))
        .output.trim().split("=")[1]!;
    assert.match(show.out, new RegExp(`^SHA-256: +${fp}$`, "m"));
    assert.equal(show.err, "");
  });
});

Deno.test("certs init --key-type rsa-3072 issues certificates openssl accepts", async () => {
  await withDir(async (dir) => {
    assert.equal(
      (await fluidity(["certs", "init", "--dir", dir, "--key-type", "rsa-3072"])).code,
      0,
    );
    assert.equal((await fluidity(["certs", "issue", "server", "--dir", dir])).code, 0);
    const r = await openssl([
      "verify",
      "-CAfile",
      `${dir}/ca.crt`,
      "-purpose",
      "sslserver",
      `${dir}/server.crt`,
    ]);
    assert.equal(r.code, 0, r.output);
    assert.match((await fluidity(["certs", "show", `${dir}/ca.crt`])).out, /^Key: +RSA 3072$/m);
  });
});

Deno.test("certs init refuses an existing CA (exit 2, untouched) until --force", async () => {
  await withDir(async (dir) => {
    assert.equal((await fluidity(["certs", "init", "--dir", dir])).code, 0);
    const before = await snapshot(dir);
    const again = await fluidity(["certs", "init", "--dir", dir]);
    assert.equal(again.code, 2);
    assert.equal(
      again.err,
      `fluidity certs init: refusing to overwrite "${dir}/ca.crt" and "${dir}/ca.key": ` +
        "they exist (use --force to replace)",
    );
    assert.deepEqual(await snapshot(dir), before);
    const forced = await fluidity(["certs", "init", "--dir", dir, "--force"]);
    assert.equal(forced.code, 0, forced.err);
    assert.notEqual((await snapshot(dir))["ca.crt"], before["ca.crt"]);
    assert.deepEqual(Object.keys(await snapshot(dir)).sort(), ["ca.crt", "ca.key"]);
  });
});

Deno.test("certs issue refuses existing certificate files until --force", async () => {
  await withDir(async (dir) => {
    await fluidity(["certs", "init", "--dir", dir]);
    assert.equal((await fluidity(["certs", "issue", "agent", "--dir", dir])).code, 0);
    const before = await snapshot(dir);
    const again = await fluidity(["certs", "issue", "agent", "--dir", dir]);
    assert.equal(again.code, 2);
    assert.match(
      again.err,
      /^fluidity certs issue agent: refusing to overwrite ".*agent\.crt" and ".*agent\.key"/,
    );
    assert.deepEqual(await snapshot(dir), before);
    assert.equal((await fluidity(["certs", "issue", "agent", "--dir", dir, "--force"])).code, 0);
    assert.notEqual((await snapshot(dir))["agent.crt"], before["agent.crt"]);
  });
});

Deno.test("certs bad input: exit 2, a one-line message naming the value, no partial files", async (t) => {
  await withDir(async (dir) => {
    await t.step("issuing without a CA", async () => {
      const r = await fluidity(["certs", "issue", "server", "--dir", `${dir}/none`]);
      assert.equal(r.code, 2);
      assert.equal(
        r.err,
        `fluidity certs issue server: no CA in "${dir}/none": "${dir}/none/ca.crt" not found ` +
          `(run 'fluidity certs init --dir ${dir}/none' first)`,
      );
      assert.deepEqual(await snapshot(dir), {});
    });

    await t.step("a CA certificate without its key", async () => {
      await Deno.mkdir(`${dir}/half`);
      await Deno.writeTextFile(`${dir}/half/ca.crt`, (await createCA()).certPem);
      const r = await fluidity(["certs", "issue", "agent", "--dir", `${dir}/half`]);
      assert.equal(r.code, 2);
      assert.match(r.err, /no CA in ".*half": ".*half\/ca\.key" not found/);
      assert.deepEqual(Object.keys(await snapshot(`${dir}/half`)), ["ca.crt"]);
      await Deno.remove(`${dir}/half`, { recursive: true });
    });

    await t.step("a --dir that is a file", async () => {
      await Deno.writeTextFile(`${dir}/plain`, "x");
      const r = await fluidity(["certs", "init", "--dir", `${dir}/plain`]);
      assert.equal(r.code, 2);
      assert.equal(r.err, `fluidity certs init: "${dir}/plain" is not a directory`);
      const nested = await fluidity(["certs", "init", "--dir", `${dir}/plain/certs`]);
      assert.equal(nested.code, 2);
      assert.match(
        nested.err,
        /^fluidity certs init: cannot (use|create) directory ".*plain\/certs": not a directory$/,
      );
      assert.deepEqual(await snapshot(dir), { plain: "x" });
      await Deno.remove(`${dir}/plain`);
    });

    await fluidity(["certs", "init", "--dir", dir]);
    const withCa = await snapshot(dir);

    await t.step("an invalid --ip", async () => {
      const r = await fluidity(["certs", "issue", "server", "--dir", dir, "--ip", "10.0.0.256"]);
      assert.equal(r.code, 2);
      assert.equal(r.err, 'fluidity certs issue server: --ip "10.0.0.256" is not an IP address');
      assert.deepEqual(await snapshot(dir), withCa);
    });

    await t.step("a bad --days", async () => {
      for (const days of ["ten", "0", "99999"]) {
        const r = await fluidity(["certs", "issue", "agent", "--dir", dir, "--days", days]);
        assert.equal(r.code, 2);
        assert.equal(
          r.err,
          `fluidity certs issue agent: --days must be a whole number of days from 1 to 36500, got "${days}"`,
        );
      }
      assert.deepEqual(await snapshot(dir), withCa);
    });

    await t.step("an unknown --key-type", async () => {
      const r = await fluidity(["certs", "init", "--dir", `${dir}/k`, "--key-type", "ed25519"]);
      assert.equal(r.code, 2);
      assert.match(r.err, /--key-type must be ecdsa-p256 or rsa-3072, got "ed25519"/);
      assert.deepEqual(await snapshot(dir), withCa);
    });

    await t.step("show on a key, a missing file and a non-PEM file", async () => {
      const key = await fluidity(["certs", "show", `${dir}/ca.key`]);
      assert.equal(key.code, 2);
      assert.match(
        key.err,
        /^fluidity certs show: ".*ca\.key" holds a private key where a certificate was expected$/,
      );
      assert.ok(
        !key.err.includes(withCa["ca.key"]!.split("\n")[1]!),
        "no key material in messages",
      );
      const missing = await fluidity(["certs", "show", `${dir}/nope.crt`]);
      assert.equal(missing.code, 2);
      assert.match(missing.err, /cannot read certificate file ".*nope\.crt": no such file/);
    });
  });
});

Deno.test("certs show warns on stderr when a certificate expires within 30 days", async () => {
  await withDir(async (dir) => {
    const ca = await createCA();
    const soon = await issueCert(ca, { kind: "agent", name: "soon", days: 7 });
    await Deno.writeTextFile(`${dir}/soon.crt`, soon.certPem);
    await Deno.writeTextFile(`${dir}/bundle.crt`, ca.certPem + soon.certPem);
    const r = await fluidity(["certs", "show", `${dir}/soon.crt`]);
    assert.equal(r.code, 0);
    assert.match(
      r.err,
      /^warning: .*soon\.crt: expires in 6 day\(s\), on \S+; issue a new one soon$/,
    );
    const b = await fluidity(["certs", "show", `${dir}/bundle.crt`]);
    assert.equal(b.code, 0);
    assert.match(
      b.out,
      /Certificate 1 of 2:[\s\S]*CN=Fluidity CA[\s\S]*Certificate 2 of 2:[\s\S]*CN=soon/,
    );
    assert.match(b.err, /\(certificate 2\): expires in/);
  });
});

Deno.test("deno run -A main.ts certs … works as a real process with exit codes 0 and 2", async () => {
  await withDir(async (dir) => {
    const run = async (...args: string[]) => {
      const r = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", MAIN, "certs", ...args],
        cwd: dir,
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const dec = new TextDecoder();
      return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
    };
    const init = await run("init");
    assert.equal(init.code, 0, init.err);
    const server = await run("issue", "server", "--ip", "127.0.0.1");
    assert.equal(server.code, 0, server.err);
    assert.deepEqual(Object.keys(await snapshot(`${dir}/certs`)).sort(), [
      "ca.crt",
      "ca.key",
      "server.crt",
      "server.key",
    ]);
    if (!isWindows) assert.equal(mode(`${dir}/certs/server.key`), 0o600);
    const r = await openssl([
      "verify",
      "-CAfile",
      `${dir}/certs/ca.crt`,
      "-purpose",
      "sslserver",
      `${dir}/certs/server.crt`,
    ]);
    assert.equal(r.code, 0, r.output);
    const again = await run("init");
    assert.equal(again.code, 2);
    assert.match(
      again.err,
      /^fluidity certs init: refusing to overwrite "certs\/ca\.crt" and "certs\/ca\.key"/,
    );
    const bad = await run("issue", "agent", "--days", "soon");
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--days must be a whole number of days from 1 to 36500, got "soon"/);
  });
});
