import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { exitCodeFor } from "../errors.ts";
import { createDeployCommand } from "./deploy_cmd.ts";
import { recordingContext } from "./test_context.ts";

async function run(args: string[]) {
  const ctx = recordingContext();
  let clientsMade = 0;
  const cmd = createDeployCommand({
    clients: () => {
      clientsMade++;
      return Promise.reject(new Error("no AWS in this test"));
    },
  });
  let code: number;
  try {
    code = await cmd.run(args, ctx);
  } catch (e) {
    code = exitCodeFor(e);
    ctx.err((e as Error).message);
  }
  return { code, out: ctx.stdout.join("\n"), err: ctx.stderr.join("\n"), clientsMade };
}

Deno.test("deploy --help lists the actions and the deploy.yaml settings with flags", async () => {
  const r = await run(["--help"]);
  assert.equal(r.code, 0);
  assert.match(r.out, /Usage: fluidity deploy up\|down\|status/);
  for (const flag of ["--config", "--region", "--stack-prefix", "--yes", "--image-uri"]) {
    assert.ok(r.out.includes(flag), flag);
  }
  assert.match(r.out, /fluidity agent --config agent\.yaml/);
});

Deno.test("deploy rejects a missing or unknown action and unknown flags with exit 2, before AWS", async () => {
  for (
    const [args, re] of [
      [[], /missing argument/],
      [["deploy"], /unknown action "deploy": use up, down or status/],
      [["up", "--frobnicate"], /Unknown option '--frobnicate'/],
      [["up", "--config", "/nonexistent/deploy.yaml"], /no such file/],
    ] as const
  ) {
    const r = await run([...args]);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.err}`);
    assert.match(r.err, re);
    assert.equal(r.clientsMade, 0);
  }
});

Deno.test("src/cli/deploy_cmd.ts loads the AWS SDK only dynamically", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "src/cli/deploy_cmd.ts"],
    cwd: fileURLToPath(new URL("../..", import.meta.url)),
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    roots: string[];
    modules: Array<
      {
        specifier: string;
        dependencies?: Array<{ code?: { specifier: string }; isDynamic?: boolean }>;
      }
    >;
  };
  const bySpec = new Map(info.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>();
  const queue = [...info.roots];
  while (queue.length > 0) {
    const spec = queue.pop()!;
    if (seen.has(spec)) continue;
    seen.add(spec);
    for (const d of bySpec.get(spec)?.dependencies ?? []) {
      if (d.code && !d.isDynamic) queue.push(d.code.specifier);
    }
  }
  assert.deepEqual([...seen].filter((s) => s.includes("@aws-sdk/")), []);
  assert.ok(![...seen].some((s) => s.includes("/src/deploy/")), "src/deploy is imported lazily");
});
