/**
 * The GitHub workflows cannot run here; these tests keep them valid YAML and
 * in step with `.ci/run` and `scripts/compile.ts`.
 */
import assert from "node:assert/strict";
import YAML from "yaml";
import { compileArgs, outputPath, parseTargets, TARGETS } from "../scripts/compile.ts";
import { RUNTIME_FLAGS } from "../src/runtime_flags.ts";
import { EMBEDDED_FILES, LAZY_MODULES } from "../src/lazy_modules.ts";

const ROOT = new URL("../", import.meta.url);

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
}
interface Job {
  "runs-on": string;
  needs?: string | string[];
  steps: Step[];
  permissions?: Record<string, string>;
  strategy?: { matrix: Record<string, unknown> };
}
interface Workflow {
  on: Record<string, unknown>;
  jobs: Record<string, Job>;
}

async function workflow(name: string): Promise<Workflow> {
  const path = `.github/workflows/${name}`;
  const text = await Deno.readTextFile(new URL(path, ROOT));
  const doc = YAML.parseDocument(text);
  assert.deepEqual(doc.errors.map((e) => e.message), [], `${path} is valid YAML`);
  const wf = doc.toJS() as Workflow;
  assert.ok(wf.on && typeof wf.on === "object", `${path} has triggers`);
  assert.ok(wf.jobs && Object.keys(wf.jobs).length > 0, `${path} has jobs`);
  for (const [id, job] of Object.entries(wf.jobs)) {
    assert.ok(job["runs-on"], `${path}: job ${id} has runs-on`);
    assert.ok(Array.isArray(job.steps) && job.steps.length > 0, `${path}: job ${id} has steps`);
    for (const step of job.steps) {
      assert.ok((step.uses === undefined) !== (step.run === undefined), `${path}: ${id} step`);
      if (step.uses) assert.match(step.uses, /^[\w.-]+\/[\w.-]+@v\d+$/, `${path}: pinned`);
    }
    for (const need of [job.needs ?? []].flat()) {
      assert.ok(need in wf.jobs, `${path}: job ${id} needs unknown job ${need}`);
    }
  }
  return wf;
}

function steps(wf: Workflow): Step[] {
  return Object.values(wf.jobs).flatMap((j) => j.steps);
}

function setupDenoVersion(wf: Workflow, job: Job): string {
  const step = job.steps.find((s) => s.uses?.startsWith("denoland/setup-deno@"));
  assert.ok(step, "job sets up Deno");
  const v = String(step.with?.["deno-version"]);
  const env = (wf as unknown as { env?: Record<string, string> }).env ?? {};
  return v.replace(/^\$\{\{ env\.(\w+) \}\}$/, (_m, k: string) => String(env[k]));
}

Deno.test("ci.yml runs .ci/run on ubuntu-latest with Deno 2.9.6", async () => {
  const wf = await workflow("ci.yml");
  assert.ok("push" in wf.on && "pull_request" in wf.on);
  const jobs = Object.values(wf.jobs);
  const gate = jobs.find((j) => j.steps.some((s) => /^bash \.ci\/run$/m.test(s.run ?? "")));
  assert.ok(gate, "a job runs bash .ci/run");
  assert.equal(gate["runs-on"], "ubuntu-latest");
  assert.equal(setupDenoVersion(wf, gate), "2.9.6");
});

Deno.test("release.yml runs on v* tags", async () => {
  const wf = await workflow("release.yml");
  const push = wf.on["push"] as { tags?: string[] };
  assert.deepEqual(push.tags, ["v*"]);
});

Deno.test("release.yml compiles every target of scripts/compile.ts with the same command", async () => {
  const wf = await workflow("release.yml");
  const job = wf.jobs["compile"];
  assert.ok(job, "a compile job");
  assert.deepEqual(job.strategy?.matrix["target"], [...TARGETS]);
  assert.equal(TARGETS.length, 5);
  assert.equal(setupDenoVersion(wf, job), "2.9.6");
  const run = job.steps.map((s) => s.run ?? "").find((r) => r.startsWith("deno compile"));
  assert.ok(run, "a step runs deno compile");
  for (const t of TARGETS) {
    assert.equal(run.replaceAll("${{ matrix.target }}", t), `deno ${compileArgs(t).join(" ")}`);
  }
  const upload = job.steps.find((s) => s.uses?.startsWith("actions/upload-artifact@"));
  assert.equal(upload?.with?.["path"], "dist/fluidity-${{ matrix.target }}*");
});

Deno.test("release.yml builds the layer and publishes everything with SHA256SUMS", async () => {
  const wf = await workflow("release.yml");
  assert.ok(wf.jobs["layer"]?.steps.some((s) => s.run === "deno task layer"));
  const release = wf.jobs["release"];
  assert.ok(release, "a release job");
  assert.deepEqual([release.needs ?? []].flat().sort(), ["compile", "layer"]);
  assert.equal(release.permissions?.["contents"], "write");
  assert.ok(release.steps.some((s) => s.uses?.startsWith("actions/download-artifact@")));
  assert.ok(release.steps.some((s) => /sha256sum .*> SHA256SUMS/.test(s.run ?? "")));
  const gh = release.steps.find((s) => s.uses?.startsWith("softprops/action-gh-release@"));
  assert.ok(gh, "softprops/action-gh-release creates the release");
  assert.equal(gh.with?.["files"], "artifacts/*");
  // The whole release waits for the same gate CI runs.
  assert.ok(steps(wf).some((s) => s.run === "bash .ci/run"));
});

Deno.test("deno.json tasks point at the scripts the workflows rely on", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
  assert.equal(config.tasks.compile, "deno run -A scripts/compile.ts");
  assert.ok(config.tasks.layer, "a layer task exists");
});

Deno.test("compile.ts parseTargets() picks one, several or all targets and rejects others", () => {
  assert.deepEqual(parseTargets([]), [...TARGETS]);
  assert.deepEqual(parseTargets(["--target", "aarch64-apple-darwin"]), ["aarch64-apple-darwin"]);
  assert.deepEqual(
    parseTargets(["--target=x86_64-pc-windows-msvc", "--target", "x86_64-apple-darwin"]),
    ["x86_64-pc-windows-msvc", "x86_64-apple-darwin"],
  );
  assert.throws(() => parseTargets(["--target", "sparc"]), /--target must be one of .*got "sparc"/);
  assert.throws(() => parseTargets(["--target"]), /--target must be one of/);
  assert.throws(() => parseTargets(["--release"]), /unknown argument "--release"/);
});

Deno.test("compile.ts builds dist/fluidity-<target> from main.ts", () => {
  assert.equal(outputPath("x86_64-unknown-linux-gnu"), "dist/fluidity-x86_64-unknown-linux-gnu");
  assert.deepEqual(compileArgs("aarch64-unknown-linux-gnu"), [
    "compile",
    "-A",
    ...RUNTIME_FLAGS,
    ...[...LAZY_MODULES, ...EMBEDDED_FILES].flatMap((m) => ["--include", m]),
    "--target",
    "aarch64-unknown-linux-gnu",
    "--output",
    "dist/fluidity-aarch64-unknown-linux-gnu",
    "main.ts",
  ]);
});

Deno.test("deno task start runs with the same runtime flags as the binaries", async () => {
  const tasks = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url))).tasks;
  assert.equal(tasks.start, `deno run -A ${RUNTIME_FLAGS.join(" ")} main.ts local`);
});

Deno.test("every lazily imported module exists and is included in compiled binaries", async () => {
  for (const m of LAZY_MODULES) await Deno.stat(new URL(`../${m}`, import.meta.url));
  const registry = await Deno.readTextFile(new URL("../src/cli/registry.ts", import.meta.url));
  for (const [, name] of registry.matchAll(/mod\("(\w+)"\)/g)) {
    assert.ok(LAZY_MODULES.includes(`src/cli/${name}.ts`), `${name} is in LAZY_MODULES`);
  }
});
