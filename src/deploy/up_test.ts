import assert from "node:assert/strict";
import { join } from "node:path";
import { AGENT_FIELDS, agentConfigOf } from "../config/agent_config.ts";
import { loadConfig } from "../config/load.ts";
import { validateAgentConfig } from "../cli/agent_cmd.ts";
import {
  ACCOUNT,
  API_KEY_ID,
  API_KEY_VALUE,
  awsErr,
  type CallRecord,
  FakeAws,
  REGION,
} from "./_fake_aws.ts";
import { CIDR, deployWorkspace, IMAGE, runDeploy } from "./_test_setup.ts";

const BUCKET = `fluidity-artifacts-${ACCOUNT}-${REGION}`;
const POLLS = new Set(["DescribeStacks", "DescribeStackEvents"]);

function params(c: CallRecord): Record<string, string> {
  return Object.fromEntries(
    (c.input["Parameters"] as Array<{ ParameterKey: string; ParameterValue: string }>).map((
      p,
    ) => [p.ParameterKey, p.ParameterValue]),
  );
}

/** Secret material that must never be printed. */
async function secretsIn(certsDir: string): Promise<string[]> {
  const out = [API_KEY_VALUE];
  for await (const e of Deno.readDir(certsDir)) {
    if (e.name.endsWith(".key")) out.push(await Deno.readTextFile(join(certsDir, e.name)));
  }
  return out;
}

function assertNoSecrets(text: string, secrets: string[]): void {
  assert.ok(!/PRIVATE KEY/.test(text), "a private key PEM was printed");
  for (const s of secrets) {
    const body = s.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, "");
    assert.ok(!text.includes(s.trim()), "a secret was printed");
    if (body.length > 20) assert.ok(!text.replace(/\s+/g, "").includes(body), "key body printed");
  }
}

Deno.test("deploy up: the full sequence in order, each step's outputs feeding the next", async () => {
  using aws = new FakeAws();
  const ws = await deployWorkspace();
  try {
    const r = await runDeploy(aws, ["up", "--config", ws.configPath]);
    assert.equal(r.code, 0, r.all);

    // Order of the calls that change or read state (polls filtered out).
    assert.deepEqual(aws.sequence((c) => !POLLS.has(c.command)), [
      "sts.GetCallerIdentity",
      "ec2.DescribeVpcs",
      "ec2.DescribeSubnets",
      "secrets.DescribeSecret",
      "secrets.CreateSecret",
      "secrets.DescribeSecret",
      "secrets.CreateSecret",
      "secrets.DescribeSecret",
      "secrets.CreateSecret",
      "s3.HeadBucket",
      "s3.CreateBucket",
      "s3.PutPublicAccessBlock",
      "s3.PutBucketTagging",
      ...["layer", "wake", "query", "kill", "sleep"].flatMap(
        () => ["s3.HeadObject", "s3.PutObject"],
      ),
      "cloudformation.CreateStack",
      "cloudformation.CreateStack",
      "apiGateway.GetApiKey",
    ]);

    const calls = aws.calls();
    const secretArn = (name: string) =>
      calls.find((c) => c.command === "CreateSecret" && c.input["Name"] === name) &&
      aws.secrets.get(name)!.arn;
    const creates = calls.filter((c) => c.command === "CreateStack");
    const [server, control] = creates;
    assert.equal(server!.input["StackName"], "fluidity-server");
    assert.deepEqual(server!.input["Capabilities"], ["CAPABILITY_IAM"]);
    assert.match(server!.input["TemplateBody"] as string, /AWS::ECS::Service/);
    assert.deepEqual(params(server!), {
      ClusterName: "fluidity",
      ServiceName: "fluidity-server",
      ImageUri: IMAGE,
      VpcId: "vpc-0def",
      SubnetIds: "subnet-0aaa,subnet-0bbb",
      AllowedCidr: CIDR,
      TunnelPort: "8443",
      ServerCertSecretArn: secretArn("fluidity/server.crt"),
      ServerKeySecretArn: secretArn("fluidity/server.key"),
      CaCertSecretArn: secretArn("fluidity/ca.crt"),
      LogRetentionDays: "14",
    });

    // The control stack starts only after the server stack completed, with its outputs.
    const at = (re: RegExp) => r.stdout.findIndex((l) => re.test(l));
    assert.ok(at(/stack fluidity-server: CREATE_COMPLETE/) >= 0);
    assert.ok(
      at(/stack fluidity-server: CREATE_COMPLETE/) < at(/stack fluidity-control: creating/),
    );
    assert.equal(control!.input["StackName"], "fluidity-control");
    assert.match(control!.input["TemplateBody"] as string, /AWS::ApiGateway::RestApi/);
    const cp = params(control!);
    const prefix = cp["ArtifactPrefix"]!;
    assert.match(prefix, /^fluidity\/[0-9a-f]{16}\/$/);
    assert.deepEqual(cp, {
      ClusterName: "fluidity",
      ServiceName: "fluidity-server",
      ServerPort: "8443",
      ArtifactBucket: BUCKET,
      ArtifactPrefix: prefix,
      IdleMinutes: "15",
      GraceMinutes: "10",
      KillScheduleExpression: "cron(0 3 * * ? *)",
      LogRetentionDays: "14",
      AlarmEmail: "",
    });
    // Every zip the template loads is in the bucket under that prefix.
    assert.deepEqual(
      [...aws.buckets.get(BUCKET)!.objects.keys()].sort(),
      ["kill", "layer", "query", "sleep", "wake"].map((n) => `${prefix}${n}.zip`),
    );
    assert.deepEqual(
      calls.find((c) => c.command === "GetApiKey")!.input,
      { apiKey: API_KEY_ID, includeValue: true },
    );

    // Secrets hold the PEMs from the certs directory.
    assert.equal(
      aws.secretValue("fluidity/server.key"),
      await Deno.readTextFile(join(ws.certsDir, "server.key")),
    );
    assert.equal(
      aws.secretValue("fluidity/ca.crt"),
      await Deno.readTextFile(join(ws.certsDir, "ca.crt")),
    );

    // agent.yaml: 0600, the agent's own loader accepts it and it points at the API.
    assert.equal((await Deno.stat(ws.agentConfigPath)).mode! & 0o777, 0o600);
    const cfg = agentConfigOf(await loadConfig(AGENT_FIELDS, { configPath: ws.agentConfigPath }));
    validateAgentConfig(cfg);
    assert.equal(cfg.lifecycle.url, `https://a1b2c3d4e5.execute-api.${REGION}.amazonaws.com/prod`);
    assert.equal(cfg.lifecycle.apiKey, API_KEY_VALUE);
    assert.equal(cfg.server, "");
    assert.equal(cfg.serverName, "fluidity-server");
    assert.equal(cfg.tls.cert, join(ws.certsDir, "agent.crt"));
    assert.equal(cfg.tls.key, join(ws.certsDir, "agent.key"));
    assert.equal(cfg.tls.ca, join(ws.certsDir, "ca.crt"));
    for (const p of [cfg.tls.cert, cfg.tls.key, cfg.tls.ca]) await Deno.stat(p);

    // Progress: stack events as they happen, with elapsed time; never a secret.
    assert.match(r.all, /\[\s*\d+s\] CREATE_IN_PROGRESS Cluster \(AWS::ECS::Cluster\)/);
    assert.match(r.all, /\[\s*\d+s\] CREATE_COMPLETE Service \(AWS::ECS::Service\)/);
    assert.match(r.all, /\[\s*\dm\d\ds\] CREATE_COMPLETE fluidity-control \(stack\)/);
    assert.match(r.all, /stack fluidity-server: CREATE_COMPLETE in \d+(m\d\d)?s/);
    assert.match(r.all, /next: fluidity agent --config .*agent\.yaml/);
    // The server stack's events arrive over several polls, elapsed time growing.
    const serverLines = r.stdout.slice(
      at(/stack fluidity-server: creating/),
      at(/stack fluidity-server: CREATE_COMPLETE/),
    ).filter((l) => /^\s+\[\s*\d+s\] CREATE_/.test(l));
    const secs = serverLines.map((l) => Number(/\[\s*(\d+)s\]/.exec(l)![1]));
    assert.ok(secs.length >= 10, "events printed one by one");
    assert.ok(secs.every((s, i) => i === 0 || s >= secs[i - 1]!), "elapsed time never goes back");
    assert.ok(new Set(secs).size > 3, "printed as they happen, not all at the end");
    assertNoSecrets(r.all, await secretsIn(ws.certsDir));
  } finally {
    await ws.cleanup();
  }
});

Deno.test("deploy up: a re-run with no changes uploads nothing and treats 'No updates' as success", async () => {
  using aws = new FakeAws();
  const ws = await deployWorkspace();
  try {
    assert.equal((await runDeploy(aws, ["up", "--config", ws.configPath])).code, 0);
    const agentYaml = await Deno.readTextFile(ws.agentConfigPath);
    const mtime = (await Deno.stat(ws.agentConfigPath)).mtime;
    aws.resetHistory();

    const r = await runDeploy(aws, ["up", "--config", ws.configPath]);
    assert.equal(r.code, 0, r.all);
    const seq = aws.sequence();
    for (
      const changing of [
        "s3.PutObject",
        "s3.CreateBucket",
        "secrets.CreateSecret",
        "secrets.PutSecretValue",
        "cloudformation.CreateStack",
      ]
    ) {
      assert.ok(!seq.includes(changing), `${changing} on a re-run`);
    }
    assert.equal(seq.filter((s) => s === "cloudformation.UpdateStack").length, 2);
    assert.match(r.all, /stack fluidity-server: no changes/);
    assert.match(r.all, /stack fluidity-control: no changes/);
    assert.match(r.all, /secret fluidity\/server\.key: unchanged/);
    assert.match(
      r.all,
      /already in s3:\/\/.*layer\.zip, wake\.zip, query\.zip, kill\.zip, sleep\.zip/,
    );
    assert.match(r.all, /agent\.yaml: unchanged/);
    assert.equal(await Deno.readTextFile(ws.agentConfigPath), agentYaml);
    assert.deepEqual((await Deno.stat(ws.agentConfigPath)).mtime, mtime);
  } finally {
    await ws.cleanup();
  }
});

Deno.test("deploy up: a new build uploads under a new prefix and updates only the control stack", async () => {
  using aws = new FakeAws();
  const ws = await deployWorkspace();
  try {
    assert.equal((await runDeploy(aws, ["up", "--config", ws.configPath])).code, 0);
    const before = params(aws.calls().filter((c) => c.command === "CreateStack")[1]!);
    await ws.rebuild("wake.zip", "PK a new wake build");
    aws.resetHistory();

    const r = await runDeploy(aws, ["up", "--config", ws.configPath]);
    assert.equal(r.code, 0, r.all);
    const updates = aws.calls().filter((c) => c.command === "UpdateStack");
    const after = params(updates[1]!);
    assert.notEqual(after["ArtifactPrefix"], before["ArtifactPrefix"]);
    assert.equal(aws.sequence().filter((s) => s === "s3.PutObject").length, 5);
    assert.match(r.all, /stack fluidity-server: no changes/);
    assert.match(r.all, /stack fluidity-control: updating/);
    assert.match(r.all, /\] UPDATE_COMPLETE fluidity-control \(stack\)/);
    assert.match(r.all, /stack fluidity-control: UPDATE_COMPLETE in/);
  } finally {
    await ws.cleanup();
  }
});

Deno.test("deploy up: a stack that fails with ROLLBACK_COMPLETE surfaces the resource's reason and exits 1", async () => {
  using aws = new FakeAws();
  const ws = await deployWorkspace();
  try {
    const reason = 'Resource handler returned message: "Invalid request provided: ' +
      'CreateService error: subnet-0aaa not found"';
    aws.failNext("fluidity-server", { resource: "Service", reason });
    const r = await runDeploy(aws, ["up", "--config", ws.configPath]);
    assert.equal(r.code, 1, r.all);
    const err = r.stderr.join("\n");
    assert.match(err, /stack fluidity-server failed \(ROLLBACK_COMPLETE\)/);
    assert.ok(err.includes(`Service (AWS::ECS::Service) CREATE_FAILED: ${reason}`), err);
    assert.ok(!err.includes("Resource creation cancelled"), "the cause, not a consequence");
    // The events were printed as they happened, the rollback included.
    assert.match(r.all, /\] CREATE_FAILED Service \(AWS::ECS::Service\): Resource handler/);
    assert.match(r.all, /\] ROLLBACK_COMPLETE fluidity-server \(stack\)/);
    // Nothing after the failed step ran.
    const seq = aws.sequence();
    assert.equal(seq.filter((s) => s === "cloudformation.CreateStack").length, 1);
    assert.ok(!seq.includes("apiGateway.GetApiKey"));
    await assert.rejects(Deno.stat(ws.agentConfigPath), Deno.errors.NotFound);

    // The next run deletes the rolled-back stack and creates it again.
    aws.resetHistory();
    const again = await runDeploy(aws, ["up", "--config", ws.configPath]);
    assert.equal(again.code, 0, again.all);
    assert.match(again.all, /ROLLBACK_COMPLETE from an earlier failed create; deleting it first/);
    const cfn = aws.sequence((c) => c.client === "cloudformation" && !POLLS.has(c.command));
    assert.deepEqual(cfn, [
      "cloudformation.DeleteStack",
      "cloudformation.CreateStack",
      "cloudformation.CreateStack",
    ]);
  } finally {
    await ws.cleanup();
  }
});

Deno.test("deploy up: a failed update (UPDATE_ROLLBACK_COMPLETE) exits 1 with the reason", async () => {
  using aws = new FakeAws();
  const ws = await deployWorkspace();
  try {
    assert.equal((await runDeploy(aws, ["up", "--config", ws.configPath])).code, 0);
    aws.failNext("fluidity-server", {
      resource: "Cluster",
      reason: "Resource limit exceeded",
    });
    const r = await runDeploy(aws, [
      "up",
      "--config",
      ws.configPath,
      "--allowed-cidr",
      "192.0.2.1/32",
    ]);
    assert.equal(r.code, 1, r.all);
    assert.match(
      r.stderr.join("\n"),
      /stack fluidity-server failed \(UPDATE_ROLLBACK_COMPLETE\): Cluster \(AWS::ECS::Cluster\) UPDATE_FAILED: Resource limit exceeded/,
    );
  } finally {
    await ws.cleanup();
  }
});

Deno.test("deploy up: missing AWS credentials exit 2 before anything is created", async () => {
  using aws = new FakeAws({
    stsError: awsErr("CredentialsProviderError", "Could not load credentials from any providers"),
  });
  const ws = await deployWorkspace();
  try {
    const r = await runDeploy(aws, ["up", "--config", ws.configPath]);
    assert.equal(r.code, 2, r.all);
    assert.match(r.stderr.join("\n"), /no AWS credentials found: set AWS_PROFILE/);
    assert.deepEqual(aws.sequence(), ["sts.GetCallerIdentity"]);
    await assert.rejects(Deno.stat(ws.certsDir), Deno.errors.NotFound);
  } finally {
    await ws.cleanup();
  }
});

Deno.test("deploy up: rejected credentials exit 2 and name the AWS error", async () => {
  using aws = new FakeAws({
    stsError: awsErr(
      "InvalidClientTokenId",
      "The security token included in the request is invalid.",
      403,
    ),
  });
  const ws = await deployWorkspace();
  try {
    const r = await runDeploy(aws, ["up", "--config", ws.configPath]);
    assert.equal(r.code, 2, r.all);
    assert.match(r.stderr.join("\n"), /AWS rejected the credentials \(InvalidClientTokenId/);
  } finally {
    await ws.cleanup();
  }
});

Deno.test("deploy up: missing prerequisites exit 2 with the command or setting to fix each", async () => {
  using aws = new FakeAws();
  const ws = await deployWorkspace();
  try {
    await Deno.remove(join(ws.distDir, "layer.zip"));
    let r = await runDeploy(aws, ["up", "--config", ws.configPath]);
    assert.equal(r.code, 2, r.all);
    assert.match(r.stderr.join("\n"), /layer\.zip.*build them with 'deno task layer'/);

    // Templates from templates_dir (a compiled binary has no infra/ beside it).
    r = await runDeploy(aws, ["up", "--config", ws.configPath], {
      env: { FLUIDITY_TEMPLATES_DIR: ws.distDir },
    });
    assert.equal(r.code, 2, r.all);
    assert.match(r.stderr.join("\n"), /cannot read the CloudFormation template .*fargate\.yaml/);

    // Config problems are found before AWS is called at all.
    aws.resetHistory();
    await Deno.writeTextFile(ws.configPath, "region: eu-west-1\n");
    r = await runDeploy(aws, ["up", "--config", ws.configPath]);
    assert.equal(r.code, 2);
    assert.match(r.stderr.join("\n"), /image_uri \(--image-uri\) is required/);
    assert.match(r.stderr.join("\n"), /allowed_cidr \(--allowed-cidr\) is required/);
    assert.deepEqual(aws.sequence(), []);

    r = await runDeploy(aws, [
      "up",
      "--config",
      ws.configPath,
      "--image-uri",
      IMAGE,
      "--allowed-cidr",
      "10.0.0.0/33",
    ]);
    assert.equal(r.code, 2);
    assert.match(r.stderr.join("\n"), /allowed_cidr: expected an IPv4 CIDR/);

    r = await runDeploy(aws, ["up", "--image-uri", IMAGE, "--allowed-cidr", CIDR], { env: {} });
    assert.equal(r.code, 2);
    assert.match(r.stderr.join("\n"), /no AWS region/);
  } finally {
    await ws.cleanup();
  }
});

Deno.test("deploy up: no default VPC and no vpc_id is a configuration error", async () => {
  using aws = new FakeAws({ defaultVpc: false });
  const ws = await deployWorkspace();
  try {
    const r = await runDeploy(aws, ["up", "--config", ws.configPath]);
    assert.equal(r.code, 2, r.all);
    assert.match(r.stderr.join("\n"), /no default VPC in eu-west-1: set vpc_id and subnet_ids/);
  } finally {
    await ws.cleanup();
  }
});

Deno.test("deploy up: configured VPC, bucket and prefix are used as given", async () => {
  using aws = new FakeAws();
  const ws = await deployWorkspace(
    "vpc_id: vpc-0mine\nsubnet_ids: [subnet-1, subnet-2]\nbucket: my-artifacts\n",
  );
  try {
    aws.buckets.set("my-artifacts", { objects: new Map(), tags: null });
    const r = await runDeploy(aws, ["up", "--config", ws.configPath, "--stack-prefix", "team-a"]);
    assert.equal(r.code, 0, r.all);
    const seq = aws.sequence();
    assert.ok(!seq.includes("ec2.DescribeVpcs"));
    assert.ok(!seq.includes("s3.CreateBucket"), "an existing bucket is used");
    const [server, control] = aws.calls().filter((c) => c.command === "CreateStack");
    assert.equal(server!.input["StackName"], "team-a-server");
    assert.equal(control!.input["StackName"], "team-a-control");
    assert.equal(params(server!)["VpcId"], "vpc-0mine");
    assert.equal(params(server!)["SubnetIds"], "subnet-1,subnet-2");
    assert.equal(params(server!)["ClusterName"], "team-a");
    assert.equal(params(control!)["ArtifactBucket"], "my-artifacts");
    assert.match(params(control!)["ArtifactPrefix"]!, /^team-a\//);
    assert.ok(aws.secrets.has("team-a/server.key"));
  } finally {
    await ws.cleanup();
  }
});

Deno.test("deploy up: an existing agent.yaml keeps the user's settings; a static server is removed", async () => {
  using aws = new FakeAws();
  const ws = await deployWorkspace();
  try {
    await Deno.writeTextFile(
      ws.agentConfigPath,
      "# my agent\nlisten: 127.0.0.1:9999\nserver: 10.0.0.1:8443\nlifecycle:\n  wake_timeout: 5m\n",
    );
    await Deno.chmod(ws.agentConfigPath, 0o644);
    const r = await runDeploy(aws, ["up", "--config", ws.configPath]);
    assert.equal(r.code, 0, r.all);
    assert.match(r.all, /agent\.yaml: updated/);
    const text = await Deno.readTextFile(ws.agentConfigPath);
    assert.match(text, /# my agent/);
    assert.equal((await Deno.stat(ws.agentConfigPath)).mode! & 0o777, 0o600);
    const cfg = agentConfigOf(await loadConfig(AGENT_FIELDS, { configPath: ws.agentConfigPath }));
    assert.equal(cfg.listen, "127.0.0.1:9999");
    assert.equal(cfg.lifecycle.wakeTimeoutMs, 300_000);
    assert.equal(cfg.server, "");
    assert.equal(cfg.lifecycle.apiKey, API_KEY_VALUE);
  } finally {
    await ws.cleanup();
  }
});

Deno.test("deploy up: existing certificates are reused, a server cert for another name is refused", async () => {
  using aws = new FakeAws();
  const ws = await deployWorkspace();
  try {
    assert.equal((await runDeploy(aws, ["up", "--config", ws.configPath])).code, 0);
    const key = await Deno.readTextFile(join(ws.certsDir, "server.key"));
    const r = await runDeploy(aws, ["up", "--config", ws.configPath]);
    assert.match(r.all, /using the CA in/);
    assert.match(r.all, /using the server certificate/);
    assert.equal(await Deno.readTextFile(join(ws.certsDir, "server.key")), key);

    await Deno.writeTextFile(ws.configPath, "\nserver_name: other-name\n", { append: true });
    const bad = await runDeploy(aws, ["up", "--config", ws.configPath]);
    assert.equal(bad.code, 2, bad.all);
    assert.match(bad.stderr.join("\n"), /not valid for the server name "other-name"/);
  } finally {
    await ws.cleanup();
  }
});
