import assert from "node:assert/strict";
import { certsCommand } from "./certs_cmd.ts";
import { recordingContext } from "./test_context.ts";
import { ConfigError, UsageError } from "../errors.ts";

async function run(args: string[]) {
  const ctx = recordingContext();
  const code = await certsCommand().run(args, ctx);
  return { code, out: ctx.stdout.join("\n"), err: ctx.stderr.join("\n") };
}

Deno.test("certs --help lists the subcommands", async () => {
  const r = await run(["--help"]);
  assert.equal(r.code, 0);
  assert.match(r.out, /Usage: fluidity certs <subcommand>/);
  for (const s of ["init", "issue server", "issue agent", "show FILE"]) {
    assert.match(r.out, new RegExp(s));
  }
});

Deno.test("certs with no subcommand prints the overview to stderr and returns 2", async () => {
  const r = await run([]);
  assert.equal(r.code, 2);
  assert.match(r.err, /Usage: fluidity certs/);
});

for (
  const [args, usage] of [
    [["init", "--help"], /Usage: fluidity certs init \[--dir certs\] \[--force\] \[--key-type/],
    [["issue", "server", "--help"], /Usage: fluidity certs issue server .*--ip A\]/],
    [
      ["issue", "agent", "-h"],
      /Usage: fluidity certs issue agent \[--dir certs\] \[--name agent\]/,
    ],
    [["show", "--help"], /Usage: fluidity certs show FILE/],
    [["issue", "--help"], /Usage: fluidity certs issue server\|agent/],
  ] as const
) {
  Deno.test(`certs ${args.join(" ")} prints its help`, async () => {
    const r = await run([...args]);
    assert.equal(r.code, 0);
    assert.match(r.out, usage);
  });
}

Deno.test("certs issue server --help shows the defaults", async () => {
  const r = await run(["issue", "server", "--help"]);
  assert.match(r.out, /--name NAME .*\(default fluidity-server\)/);
  assert.match(r.out, /--dns NAME .*\(repeatable\)/);
  assert.match(r.out, /--days N .*\(default 825\)/);
  assert.match(r.out, /--dir DIR .*\(default certs\)/);
});

async function rejects(args: string[], type: typeof UsageError | typeof ConfigError, msg: RegExp) {
  await assert.rejects(certsCommand().run(args, recordingContext()), (e: unknown) => {
    assert.ok(e instanceof type, `${e}`);
    assert.match((e as Error).message, msg);
    assert.ok(!(e as Error).message.includes("\n"), "one line");
    return true;
  });
}

Deno.test("certs rejects unknown subcommands, kinds and flags", async () => {
  await rejects(
    ["frob"],
    UsageError,
    /^fluidity certs: unknown subcommand "frob"; expected init, issue or show/,
  );
  await rejects(["issue"], UsageError, /^fluidity certs issue: missing kind/);
  await rejects(["issue", "client"], UsageError, /unknown kind "client"; expected server or agent/);
  await rejects(["init", "--bogus"], UsageError, /^fluidity certs init: Unknown option '--bogus'/);
  await rejects(["init", "extra"], UsageError, /unexpected argument "extra"/);
  await rejects(["show"], UsageError, /^fluidity certs show: missing argument/);
});

Deno.test("certs validates --days, --key-type, --ip, --dns and --name before touching files", async () => {
  for (const days of ["abc", "0", "-1", "1.5", "36501", ""]) {
    await rejects(
      ["issue", "server", "--dir", "/nonexistent", `--days=${days}`],
      UsageError,
      new RegExp(
        `--days must be a whole number of days from 1 to 36500, got "${days.replace(".", "\\.")}"`,
      ),
    );
  }
  await rejects(
    ["init", "--dir", "/nonexistent", "--key-type", "dsa"],
    UsageError,
    /--key-type must be ecdsa-p256 or rsa-3072, got "dsa"/,
  );
  await rejects(
    ["issue", "server", "--dir", "/nonexistent", "--ip", "1.2.3"],
    UsageError,
    /--ip "1\.2\.3" is not an IP address/,
  );
  await rejects(
    ["issue", "server", "--dir", "/nonexistent", "--ip", "127.0.0.1", "--ip", "localhost"],
    UsageError,
    /--ip "localhost"/,
  );
  await rejects(
    ["issue", "server", "--dir", "/nonexistent", "--dns", "a_b"],
    UsageError,
    /--dns "a_b" is not a valid DNS name/,
  );
  await rejects(
    ["issue", "server", "--dir", "/nonexistent", "--name", "bad name"],
    UsageError,
    /--name "bad name" is not a valid DNS name/,
  );
  await rejects(
    ["issue", "agent", "--dir", "/nonexistent", "--name", "../ca"],
    UsageError,
    /--name "\.\.\/ca" is not a valid agent name/,
  );
  await rejects(["init", "--dir", ""], UsageError, /--dir must not be empty/);
});

Deno.test("certs issue without a CA is a configuration error naming the directory", async () => {
  await rejects(
    ["issue", "agent", "--dir", "/nonexistent/certs"],
    ConfigError,
    /^fluidity certs issue agent: no CA in "\/nonexistent\/certs": "\/nonexistent\/certs\/ca\.crt" not found/,
  );
});

Deno.test("certs show refuses PEM text in place of FILE", async () => {
  await rejects(["show", "--", "-----BEGIN CERTIFICATE-----"], UsageError, /FILE must be a path/);
});
