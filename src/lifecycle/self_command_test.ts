import assert from "node:assert/strict";
import { fileURLToPath as fromFileUrl } from "node:url";
import { fluidityCommand } from "./self_command.ts";
import { RUNTIME_FLAGS } from "../runtime_flags.ts";

Deno.test("fluidityCommand() under deno run is deno run -A <runtime flags> <abs main.ts> args", () => {
  const argv = fluidityCommand(["server", "--help"]);
  assert.equal(argv[0], Deno.execPath());
  assert.deepEqual(argv.slice(1, 3), ["run", "-A"]);
  const n = RUNTIME_FLAGS.length;
  assert.deepEqual(argv.slice(3, 3 + n), [...RUNTIME_FLAGS]);
  assert.equal(argv[3 + n], fromFileUrl(new URL("../../main.ts", import.meta.url)));
  assert.deepEqual(argv.slice(4 + n), ["server", "--help"]);
});

Deno.test("fluidityCommand() for a compiled binary is the binary itself", () => {
  assert.deepEqual(
    fluidityCommand(["server"], {
      execPath: "/usr/local/bin/fluidity",
      mainUrl: "file:///tmp/deno-compile-fluidity/main.ts",
    }),
    ["/usr/local/bin/fluidity", "server"],
  );
  assert.deepEqual(
    fluidityCommand(["agent"], {
      execPath: "C:\\Tools\\fluidity.exe",
      mainUrl: "file:///C:/Users/x/AppData/Local/Temp/deno-compile-fluidity.exe/main.ts",
    }),
    ["C:\\Tools\\fluidity.exe", "agent"],
  );
});

Deno.test("fluidityCommand() treats deno.exe as deno run", () => {
  const argv = fluidityCommand(["x"], {
    execPath: "C:\\deno\\deno.exe",
    mainUrl: "file:///C:/src/fluidity/main.ts",
  });
  assert.deepEqual(argv.slice(0, 3), ["C:\\deno\\deno.exe", "run", "-A"]);
  assert.equal(argv.at(-1), "x");
});

Deno.test("fluidityCommand() runs the real main.ts (--version)", async () => {
  const [cmd, ...args] = fluidityCommand(["--version"]);
  const out = await new Deno.Command(cmd!, { args, stdout: "piped", stderr: "piped" }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.match(new TextDecoder().decode(out.stdout), /^fluidity \d/);
});
