/**
 * deploy.yaml settings, and the contract between `fluidity deploy up` and
 * infra/: the parameters it passes are exactly the templates' parameters
 * (every required one, no unknown one), the values it derives pass their
 * AllowedPattern, and the outputs it reads exist.
 */
import assert from "node:assert/strict";
import YAML from "yaml";
import {
  bucketName,
  DEPLOY_FIELDS,
  deployConfigOf,
  deployNames,
  resolveRegion,
  validateUpConfig,
} from "../src/config/deploy_config.ts";
import { parseYamlConfig } from "../src/config/yaml_parse.ts";
import { resolveConfig } from "../src/config/schema.ts";
import { ConfigError } from "../src/errors.ts";
import { exampleYaml, ROOT } from "../scripts/gen_examples.ts";
import { FakeAws } from "../src/deploy/_fake_aws.ts";
import { deployWorkspace, runDeploy } from "../src/deploy/_test_setup.ts";

const INFRA = new URL("../infra/", import.meta.url);

function config(data: Record<string, unknown> = {}, env: Record<string, string> = {}) {
  return deployConfigOf(
    resolveConfig(DEPLOY_FIELDS, { file: { path: "deploy.yaml", data }, env }),
  );
}

/** CloudFormation YAML with short-form tags kept as opaque values. */
function loadTemplate(text: string): {
  Parameters: Record<string, { Default?: unknown; AllowedPattern?: string; Type: string }>;
  Outputs: Record<string, unknown>;
} {
  const names = ["Ref", "Sub", "GetAtt", "If", "Not", "Equals", "Join", "Select", "Split"];
  const customTags = names.flatMap((n) =>
    (["scalar", "seq", "map"] as const).map((collection) => ({
      tag: `!${n}`,
      ...(collection === "scalar" ? {} : { collection }),
      resolve: (v: unknown) => ({ [n]: v }),
    }))
  );
  // deno-lint-ignore no-explicit-any
  return YAML.parse(text, { customTags: customTags as any });
}

Deno.test("deploy.example.yaml is generated from DEPLOY_FIELDS and resolves to the defaults", async () => {
  const text = await Deno.readTextFile(new URL("deploy.example.yaml", ROOT));
  assert.equal(text, exampleYaml("deploy"), "stale: run deno run -A scripts/gen_examples.ts");
  const values = resolveConfig(DEPLOY_FIELDS, {
    file: { path: "deploy.example.yaml", data: parseYamlConfig("deploy.example.yaml", text) },
  });
  assert.deepEqual(values, resolveConfig(DEPLOY_FIELDS, {}));
});

Deno.test("deploy config: file < FLUIDITY_* env < flags, region from AWS_REGION", () => {
  const cfg = deployConfigOf(resolveConfig(DEPLOY_FIELDS, {
    file: { path: "deploy.yaml", data: { region: "eu-west-1", stack_prefix: "a" } },
    env: { FLUIDITY_STACK_PREFIX: "b", FLUIDITY_SUBNET_IDS: "subnet-1, subnet-2" },
    flags: { "stack-prefix": "c" },
  }));
  assert.equal(cfg.stackPrefix, "c");
  assert.equal(cfg.region, "eu-west-1");
  assert.deepEqual(cfg.subnetIds, ["subnet-1", "subnet-2"]);
  assert.equal(resolveRegion(config(), { AWS_REGION: "us-east-2" }).region, "us-east-2");
  assert.equal(resolveRegion(config(), { AWS_DEFAULT_REGION: "ap-south-1" }).region, "ap-south-1");
  assert.throws(() => resolveRegion(config(), {}), ConfigError);
  assert.throws(() => resolveRegion(config({ region: "Europe" }), {}), /expected an AWS region/);
  assert.throws(
    () => resolveRegion(config({ region: "eu-west-1", stack_prefix: "Fluidity" }), {}),
    /stack_prefix \(--stack-prefix\): expected 1-25 lowercase/,
  );
  assert.throws(
    () => resolveRegion(config({ region: "eu-west-1", bucket: "Bad_Bucket" }), {}),
    /bucket: expected an S3 bucket name/,
  );
  assert.throws(
    () => config({ tunnel_port: 70000 }),
    /deploy\.yaml: tunnel_port: expected an integer between 1 and 65535/,
  );
  assert.throws(() => config({ regoin: "x" }), /unknown setting \(did you mean "region"\?\)/);
});

Deno.test("deploy config: up names every missing or malformed setting at once", () => {
  const err = (() => {
    try {
      validateUpConfig(config({ kill_cron: "daily", log_retention_days: 10, vpc_id: "vpc-1" }));
    } catch (e) {
      return e as Error;
    }
    throw new Error("no error");
  })();
  assert.ok(err instanceof ConfigError);
  for (
    const part of [
      "image_uri (--image-uri) is required",
      "allowed_cidr (--allowed-cidr) is required",
      'kill_cron: expected an EventBridge expression like "cron(0 3 * * ? *)"',
      "log_retention_days: expected one of 1, 3, 5",
      "vpc_id is set but subnet_ids is not",
    ]
  ) {
    assert.ok(err.message.includes(part), `${part} in ${err.message}`);
  }
  validateUpConfig(config({ image_uri: "img", allowed_cidr: "0.0.0.0/0" }));
});

Deno.test("deploy names: stacks, cluster, service, secrets and bucket derive from the prefix", () => {
  assert.deepEqual(deployNames("fluidity"), {
    serverStack: "fluidity-server",
    controlStack: "fluidity-control",
    cluster: "fluidity",
    service: "fluidity-server",
    secrets: {
      serverCert: "fluidity/server.crt",
      serverKey: "fluidity/server.key",
      caCert: "fluidity/ca.crt",
    },
    artifactRoot: "fluidity/",
  });
  const cfg = resolveRegion(config({ region: "eu-west-1" }), {});
  assert.equal(bucketName(cfg, "123456789012"), "fluidity-artifacts-123456789012-eu-west-1");
  assert.equal(bucketName({ ...cfg, bucket: "mine" }, "123456789012"), "mine");
});

Deno.test("deploy ↔ infra: derived names pass the templates' AllowedPattern, even at the longest", async () => {
  const fargate = loadTemplate(await Deno.readTextFile(new URL("fargate.yaml", INFRA)));
  const lambda = loadTemplate(await Deno.readTextFile(new URL("lambda.yaml", INFRA)));
  const longest = "a".repeat(24) + "z"; // stack_prefix allows 25 characters
  for (const prefix of ["fluidity", "x", longest]) {
    const n = deployNames(prefix);
    const cfg = resolveRegion(config({ region: "ap-southeast-2", stack_prefix: prefix }), {});
    const bucket = bucketName(cfg, "123456789012");
    const checks: Array<[string, string, string]> = [
      [fargate.Parameters["ClusterName"]!.AllowedPattern!, n.cluster, "ClusterName"],
      [fargate.Parameters["ServiceName"]!.AllowedPattern!, n.service, "ServiceName"],
      [lambda.Parameters["ArtifactBucket"]!.AllowedPattern!, bucket, "ArtifactBucket"],
    ];
    for (const [pattern, value, what] of checks) {
      assert.ok(pattern, `${what} has an AllowedPattern`);
      assert.match(value, new RegExp(pattern), `${what} ${value}`);
    }
    assert.ok(bucket.length <= 63, bucket);
  }
  const kill = lambda.Parameters["KillScheduleExpression"]!;
  assert.match(String(config().killCron), new RegExp(kill.AllowedPattern!));
  assert.equal(config().killCron, kill.Default);
});

Deno.test("deploy ↔ infra: up passes exactly the templates' parameters and reads outputs they declare", async () => {
  const templates = {
    "fluidity-server": loadTemplate(await Deno.readTextFile(new URL("fargate.yaml", INFRA))),
    "fluidity-control": loadTemplate(await Deno.readTextFile(new URL("lambda.yaml", INFRA))),
  };
  using aws = new FakeAws();
  const ws = await deployWorkspace();
  try {
    const r = await runDeploy(aws, ["up", "--config", ws.configPath]);
    assert.equal(r.code, 0, r.all);
    for (const c of aws.calls().filter((c) => c.command === "CreateStack")) {
      const name = c.input["StackName"] as keyof typeof templates;
      const t = templates[name];
      const passed = (c.input["Parameters"] as Array<{ ParameterKey: string }>).map((p) =>
        p.ParameterKey
      );
      const declared = Object.keys(t.Parameters);
      assert.deepEqual(passed.filter((p) => !declared.includes(p)), [], `${name}: unknown`);
      const required = declared.filter((p) => t.Parameters[p]!.Default === undefined);
      assert.deepEqual(required.filter((p) => !passed.includes(p)), [], `${name}: missing`);
    }
    for (const o of ["ClusterName", "ServiceName", "TunnelPort"]) {
      assert.ok(o in templates["fluidity-server"].Outputs, `fargate.yaml output ${o}`);
    }
    for (const o of ["ApiUrl", "ApiKeyId"]) {
      assert.ok(o in templates["fluidity-control"].Outputs, `lambda.yaml output ${o}`);
    }
  } finally {
    await ws.cleanup();
  }
});
