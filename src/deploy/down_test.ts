import assert from "node:assert/strict";
import { ACCOUNT, FakeAws, REGION } from "./_fake_aws.ts";
import { deployWorkspace, runDeploy } from "./_test_setup.ts";

const BUCKET = `fluidity-artifacts-${ACCOUNT}-${REGION}`;
const POLLS = new Set(["DescribeStacks", "DescribeStackEvents"]);

Deno.test("deploy down --yes: control stack, then server stack, then secrets, then artifacts and bucket", async () => {
  using aws = new FakeAws();
  const ws = await deployWorkspace();
  try {
    assert.equal((await runDeploy(aws, ["up", "--config", ws.configPath])).code, 0);
    aws.resetHistory();
    const r = await runDeploy(aws, ["down", "--config", ws.configPath, "--yes"]);
    assert.equal(r.code, 0, r.all);
    assert.deepEqual(
      aws.sequence((c) => !POLLS.has(c.command)),
      [
        "sts.GetCallerIdentity",
        "cloudformation.DeleteStack",
        "cloudformation.DeleteStack",
        "secrets.DescribeSecret",
        "secrets.DeleteSecret",
        "secrets.DescribeSecret",
        "secrets.DeleteSecret",
        "secrets.DescribeSecret",
        "secrets.DeleteSecret",
        "s3.HeadBucket",
        "s3.ListObjectsV2",
        "s3.DeleteObjects",
        "s3.GetBucketTagging",
        "s3.ListObjectsV2",
        "s3.DeleteBucket",
      ],
    );
    const calls = aws.calls();
    const deletes = calls.filter((c) => c.command === "DeleteStack");
    assert.match(deletes[0]!.input["StackName"] as string, /stack\/fluidity-control\//);
    assert.match(deletes[1]!.input["StackName"] as string, /stack\/fluidity-server\//);
    // The server stack is deleted only once the control stack is gone.
    const at = (re: RegExp) => r.stdout.findIndex((l) => re.test(l));
    assert.ok(
      at(/stack fluidity-control: DELETE_COMPLETE/) < at(/stack fluidity-server: deleting/),
    );
    assert.match(r.all, /\[\s*\d+s\] DELETE_COMPLETE Service \(AWS::ECS::Service\)/);
    assert.deepEqual(
      calls.filter((c) => c.command === "DeleteSecret").map((c) => c.input["RecoveryWindowInDays"]),
      [7, 7, 7],
    );
    assert.equal(aws.stacks.size, 0);
    assert.ok(!aws.buckets.has(BUCKET));
    for (const s of aws.secrets.values()) assert.ok(s.deletedDate);
    // Local files stay.
    await Deno.stat(ws.agentConfigPath);
    await Deno.stat(`${ws.certsDir}/ca.key`);

    // Up again after down: the secrets come back from their recovery window.
    aws.resetHistory();
    const up = await runDeploy(aws, ["up", "--config", ws.configPath]);
    assert.equal(up.code, 0, up.all);
    assert.equal(aws.sequence().filter((s) => s === "secrets.RestoreSecret").length, 3);
    assert.equal(aws.stacks.size, 2);
  } finally {
    await ws.cleanup();
  }
});

Deno.test("deploy down: a bucket it did not create keeps the user's other objects", async () => {
  using aws = new FakeAws();
  const ws = await deployWorkspace("bucket: shared-bucket\n");
  try {
    aws.buckets.set("shared-bucket", {
      objects: new Map([["other/thing.txt", { body: new Uint8Array(1), metadata: {} }]]),
      tags: null,
    });
    assert.equal((await runDeploy(aws, ["up", "--config", ws.configPath])).code, 0);
    assert.equal(aws.buckets.get("shared-bucket")!.objects.size, 6);
    const r = await runDeploy(aws, ["down", "--config", ws.configPath, "--yes"]);
    assert.equal(r.code, 0, r.all);
    assert.deepEqual([...aws.buckets.get("shared-bucket")!.objects.keys()], ["other/thing.txt"]);
    assert.match(r.all, /bucket shared-bucket: kept \(not created by fluidity deploy\)/);
    assert.ok(!aws.sequence().includes("s3.DeleteBucket"));
  } finally {
    await ws.cleanup();
  }
});

Deno.test("deploy down: without --yes and without a terminal exits 2 and deletes nothing", async () => {
  using aws = new FakeAws();
  const ws = await deployWorkspace();
  try {
    assert.equal((await runDeploy(aws, ["up", "--config", ws.configPath])).code, 0);
    aws.resetHistory();
    const r = await runDeploy(aws, ["down", "--config", ws.configPath]);
    assert.equal(r.code, 2, r.all);
    assert.match(r.stderr.join("\n"), /pass --yes/);
    assert.deepEqual(aws.sequence(), ["sts.GetCallerIdentity"]);
    assert.equal(aws.stacks.size, 2);
  } finally {
    await ws.cleanup();
  }
});

Deno.test("deploy down: asks first; anything but yes deletes nothing and exits 1", async () => {
  using aws = new FakeAws();
  const ws = await deployWorkspace();
  try {
    assert.equal((await runDeploy(aws, ["up", "--config", ws.configPath])).code, 0);
    aws.resetHistory();
    const questions: string[] = [];
    const no = await runDeploy(aws, ["down", "--config", ws.configPath], {
      prompt: (q) => (questions.push(q), Promise.resolve("n")),
    });
    assert.equal(no.code, 1, no.all);
    assert.equal(questions.length, 1);
    assert.match(no.all, /This deletes, in account 123456789012 \(eu-west-1\)/);
    assert.match(no.all, /stacks fluidity-control and fluidity-server/);
    assert.match(no.stderr.join("\n"), /not confirmed; nothing was deleted/);
    assert.deepEqual(aws.sequence(), ["sts.GetCallerIdentity"]);

    const yes = await runDeploy(aws, ["down", "--config", ws.configPath], {
      prompt: () => Promise.resolve("yes"),
    });
    assert.equal(yes.code, 0, yes.all);
    assert.equal(aws.stacks.size, 0);
  } finally {
    await ws.cleanup();
  }
});

Deno.test("deploy down: nothing deployed is not an error", async () => {
  using aws = new FakeAws();
  const ws = await deployWorkspace();
  try {
    const r = await runDeploy(aws, ["down", "--config", ws.configPath, "-y"]);
    assert.equal(r.code, 0, r.all);
    assert.match(r.all, /stack fluidity-control: not found, nothing to delete/);
    assert.match(r.all, /secret fluidity\/server\.key: absent/);
    assert.match(r.all, /bucket .*: not found, nothing to delete/);
  } finally {
    await ws.cleanup();
  }
});
