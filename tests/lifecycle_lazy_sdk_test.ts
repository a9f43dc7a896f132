/**
 * The AWS SDK costs ~0.3 s and ~100 MB when imported: the agent and the
 * server must not load it unless the aws provider or the CloudWatch emitter is
 * used. Checks the static import graph from main.ts (dynamic imports and
 * type-only imports are allowed).
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

interface Dep {
  specifier: string;
  code?: { specifier: string };
  isDynamic?: boolean;
}
interface Info {
  roots: string[];
  modules: Array<{ specifier: string; dependencies?: Dep[] }>;
}

async function staticGraph(entry: string): Promise<Set<string>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: fileURLToPath(new URL("..", import.meta.url)),
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as Info;
  const bySpec = new Map(info.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>();
  const queue = [...info.roots];
  for (let i = 0; i < queue.length && i < 100_000; i++) {
    const spec = queue[i]!;
    if (seen.has(spec)) continue;
    seen.add(spec);
    for (const d of bySpec.get(spec)?.dependencies ?? []) {
      if (d.code && !d.isDynamic) queue.push(d.code.specifier);
    }
  }
  return seen;
}

for (const entry of ["main.ts", "src/lifecycle/client.ts", "src/lifecycle/discovery.ts"]) {
  Deno.test(`${entry} does not statically import the AWS SDK`, async () => {
    const graph = await staticGraph(entry);
    const aws = [...graph].filter((s) => s.includes("@aws-sdk/"));
    assert.deepEqual(aws, [], `static AWS SDK imports reachable from ${entry}`);
    assert.ok(
      ![...graph].some((s) => s.endsWith("/src/lifecycle/aws_provider.ts")),
      "aws_provider.ts must be imported dynamically",
    );
  });
}
