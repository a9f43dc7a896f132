import assert from "node:assert/strict";
import { runCli } from "./dispatch.ts";
import { recordingContext } from "./test_context.ts";
import { VERSION } from "../version.ts";

Deno.test("runCli() with no command prints usage to stderr and returns 2", async () => {
  const ctx = recordingContext();
  assert.equal(await runCli([], ctx), 2);
  assert.match(ctx.stderr.join("\n"), /Usage: fluidity <command>/);
});

Deno.test("runCli() --help prints usage to stdout and returns 0", async () => {
  const ctx = recordingContext();
  assert.equal(await runCli(["--help"], ctx), 0);
  assert.match(ctx.stdout.join("\n"), /Commands:/);
});

Deno.test("runCli() --version prints the version", async () => {
  const ctx = recordingContext();
  assert.equal(await runCli(["--version"], ctx), 0);
  assert.match(ctx.stdout[0]!, new RegExp(`fluidity ${VERSION.replaceAll(".", "\\.")}`));
});

Deno.test("runCli() rejects an unknown command with usage and exit 2", async () => {
  const ctx = recordingContext();
  assert.equal(await runCli(["frobnicate"], ctx), 2);
  assert.match(ctx.stderr.join("\n"), /unknown command "frobnicate"/);
  assert.match(ctx.stderr.join("\n"), /Usage:/);
});

for (const name of ["local", "agent", "server", "certs", "control-plane", "deploy"]) {
  Deno.test(`runCli() ${name} --help prints that command's help and returns 0`, async () => {
    const ctx = recordingContext();
    assert.equal(await runCli([name, "--help"], ctx), 0);
    assert.match(ctx.stdout.join("\n"), new RegExp(`Usage: fluidity ${name}`));
  });
}
