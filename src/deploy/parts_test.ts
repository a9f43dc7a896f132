/** Unit tests of the deploy steps: secrets, artifacts, agent.yaml rendering, elapsed time. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FUNCTIONS } from "../../scripts/layer.ts";
import { ConfigError } from "../errors.ts";
import { ARTIFACT_FILES, readArtifacts, uploadArtifacts } from "./artifacts.ts";
import { renderAgentConfig } from "./agent_file.ts";
import { FakeAws } from "./_fake_aws.ts";
import { deployRun, formatElapsed } from "./run.ts";
import { deleteSecret, putSecret } from "./secrets.ts";

function run(aws: FakeAws, lines: string[] = []) {
  return deployRun({ clients: aws.clients, out: (l) => lines.push(l), now: aws.clock }, 60_000);
}

Deno.test("putSecret(): created, unchanged, updated, and back to an earlier value", async () => {
  using aws = new FakeAws();
  const r = run(aws);
  const a = await putSecret(r, "p/s", "value A", "d");
  assert.equal(a.action, "created");
  assert.equal((await putSecret(r, "p/s", "value A", "d")).action, "unchanged");
  assert.equal((await putSecret(r, "p/s", "value B", "d")).action, "updated");
  assert.equal(aws.secretValue("p/s"), "value B");
  // An earlier value becomes current again (a reused version id would be ignored by AWS).
  assert.equal((await putSecret(r, "p/s", "value A", "d")).action, "updated");
  assert.equal(aws.secretValue("p/s"), "value A");
  const tokens = aws.calls().filter((c) => /CreateSecret|PutSecretValue/.test(c.command))
    .map((c) => c.input["ClientRequestToken"] as string);
  assert.equal(new Set(tokens).size, tokens.length, "every version id is new");
  for (const t of tokens) assert.match(t, /^[0-9a-f]{48}-[0-9a-f]{12}$/);
  assert.ok(!tokens.some((t) => t.includes("value")), "version ids reveal nothing of the value");
  assert.equal(a.arn, aws.secrets.get("p/s")!.arn);
});

Deno.test("deleteSecret(): only secrets deploy created, once", async () => {
  using aws = new FakeAws();
  const r = run(aws);
  await putSecret(r, "p/mine", "x", "d");
  aws.secrets.set("p/theirs", { arn: "arn:theirs", versions: new Map(), tags: [] });
  assert.equal(await deleteSecret(r, "p/mine"), "deleted");
  assert.equal(await deleteSecret(r, "p/mine"), "already scheduled");
  assert.equal(await deleteSecret(r, "p/theirs"), "not ours");
  assert.equal(await deleteSecret(r, "p/none"), "absent");
});

Deno.test("ARTIFACT_FILES are the layer and every function 'deno task layer' builds", () => {
  assert.deepEqual(
    [...ARTIFACT_FILES].sort(),
    ["layer.zip", ...FUNCTIONS.map((f) => `${f}.zip`)].sort(),
  );
});

Deno.test("readArtifacts(): digest follows the content; missing zips are named with the fix", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fluidity-artifacts-" });
  try {
    await assert.rejects(
      readArtifacts(dir),
      (e) =>
        e instanceof ConfigError && ARTIFACT_FILES.every((f) => e.message.includes(f)) &&
        /deno task layer/.test(e.message),
    );
    for (const f of ARTIFACT_FILES) await Deno.writeTextFile(join(dir, f), f);
    const one = await readArtifacts(dir);
    assert.match(one.digest, /^[0-9a-f]{16}$/);
    assert.equal((await readArtifacts(dir)).digest, one.digest);
    await Deno.writeTextFile(join(dir, "kill.zip"), "changed");
    assert.notEqual((await readArtifacts(dir)).digest, one.digest);

    using aws = new FakeAws();
    aws.buckets.set("b", { objects: new Map(), tags: null });
    const set = await readArtifacts(dir);
    const first = await uploadArtifacts(run(aws), "b", "p/x/", set);
    assert.equal(first.uploaded.length, 5);
    const put = aws.calls().find((c) => c.command === "PutObject")!.input;
    assert.equal(put["ContentType"], "application/zip");
    assert.match(put["ChecksumSHA256"] as string, /^[A-Za-z0-9+/]{43}=$/);
    const second = await uploadArtifacts(run(aws), "b", "p/x/", set);
    assert.deepEqual(second, { uploaded: [], skipped: ARTIFACT_FILES });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("renderAgentConfig(): refuses a file that is not a mapping or not YAML", () => {
  const v = {
    lifecycleUrl: "https://x/prod",
    apiKey: "k",
    cert: "/c",
    key: "/k",
    ca: "/ca",
    serverName: "fluidity-server",
  };
  const meta = { stack: "s", region: "r", path: "agent.yaml" };
  assert.throws(() => renderAgentConfig("- a\n- b\n", v, meta), /expected a mapping/);
  assert.throws(() => renderAgentConfig("a: [\n", v, meta), /agent\.yaml:\d+:\d+: invalid YAML/);
  assert.throws(() => renderAgentConfig("a: 1\na: 2\n", v, meta), ConfigError);
  const text = renderAgentConfig(null, v, meta);
  assert.match(text, /^# Written by 'fluidity deploy up' from stack s \(r\)\./);
  assert.match(text, /lifecycle:\n {2}url: https:\/\/x\/prod\n {2}api_key: k\n/);
});

Deno.test("formatElapsed() keeps progress columns short", () => {
  assert.equal(formatElapsed(0), "0s");
  assert.equal(formatElapsed(59_999), "59s");
  assert.equal(formatElapsed(65_000), "1m05s");
  assert.equal(formatElapsed(3_720_000), "1h02m");
});
