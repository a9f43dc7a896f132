import assert from "node:assert/strict";
import { FakeAws, PUBLIC_IP } from "./_fake_aws.ts";
import { deployWorkspace, runDeploy } from "./_test_setup.ts";

Deno.test("deploy status: stacks, service counts, public IP and last activity", async () => {
  using aws = new FakeAws();
  const ws = await deployWorkspace();
  try {
    assert.equal((await runDeploy(aws, ["up", "--config", ws.configPath])).code, 0);
    aws.service = { desiredCount: 1, runningCount: 1, pendingCount: 0 };
    aws.lastActivityEpochSeconds = Math.floor(aws.now / 1000) - 300;
    aws.resetHistory();
    const r = await runDeploy(aws, ["status", "--config", ws.configPath]);
    assert.equal(r.code, 0, r.all);
    assert.match(r.all, /stack fluidity-server\s+CREATE_COMPLETE/);
    assert.match(r.all, /stack fluidity-control\s+CREATE_COMPLETE/);
    assert.match(r.all, /desired 1, running 1, pending 0/);
    assert.ok(r.all.includes(`server: running at ${PUBLIC_IP}:8443`), r.all);
    assert.match(r.all, /last activity: \S+Z \(5m00s ago\), active connections 0/);
    assert.match(r.all, /lifecycle API: https:\/\/.*\/prod/);
    // Read-only: nothing but describes.
    for (const s of aws.sequence()) {
      assert.match(s, /\.(GetCallerIdentity|Describe\w+|ListTasks|GetMetricData)$/, s);
    }
    // The ECS calls name the cluster and service from the server stack's outputs.
    const ds = aws.calls().find((c) => c.command === "DescribeServices")!;
    assert.deepEqual(ds.input, { cluster: "fluidity", services: ["fluidity-server"] });
  } finally {
    await ws.cleanup();
  }
});

Deno.test("deploy status: an asleep server and no activity samples", async () => {
  using aws = new FakeAws();
  const ws = await deployWorkspace();
  try {
    assert.equal((await runDeploy(aws, ["up", "--config", ws.configPath])).code, 0);
    const r = await runDeploy(aws, ["status", "--config", ws.configPath]);
    assert.equal(r.code, 0, r.all);
    assert.match(r.all, /desired 0, running 0/);
    assert.match(r.all, /server: stopped \(no public IP\)/);
    assert.match(r.all, /last activity: no samples in the last hour/);
  } finally {
    await ws.cleanup();
  }
});

Deno.test("deploy status: nothing deployed", async () => {
  using aws = new FakeAws();
  const ws = await deployWorkspace();
  try {
    const r = await runDeploy(aws, ["status", "--config", ws.configPath]);
    assert.equal(r.code, 0, r.all);
    assert.match(r.all, /stack fluidity-server\s+not deployed/);
    assert.match(r.all, /server: not deployed \(run: fluidity deploy up\)/);
    assert.ok(!aws.sequence().some((s) => s.startsWith("ecs.")));
  } finally {
    await ws.cleanup();
  }
});
