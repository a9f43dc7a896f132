/**
 * Static checks of infra/fargate.yaml, infra/lambda.yaml and infra/Dockerfile:
 * they parse with the CloudFormation short-form tags, every reference resolves,
 * IAM is scoped, and what the templates say matches the code in lambdas/ and
 * src/ (handler names, environment variables, metric namespace, ports).
 * No AWS here: this is what can be known without deploying.
 */
import assert from "node:assert/strict";
import YAML, { type Document, isMap, isScalar, isSeq, type Tags, type YAMLMap } from "yaml";
import { API_FUNCTIONS, LAMBDA_ENV, SCHEDULED_FUNCTIONS } from "../lambdas/lifecycle_lambda.ts";
import { FUNCTIONS } from "../scripts/layer.ts";
import { SERVER_FIELDS } from "../src/config/server_config.ts";
import { envName } from "../src/config/schema.ts";
import { METRICS_NAMESPACE } from "../src/server/cloudwatch_emitter.ts";

const INFRA = new URL("../infra/", import.meta.url);

// ---------------------------------------------------------------------------
// CloudFormation YAML: short-form tags → the long (JSON) form.

const FN_TAGS = [
  "And",
  "Base64",
  "Cidr",
  "Equals",
  "FindInMap",
  "GetAZs",
  "If",
  "ImportValue",
  "Join",
  "Not",
  "Or",
  "Select",
  "Split",
  "Sub",
  "Transform",
] as const;

function cfnTags(): Tags {
  const tags: Tags = [
    { tag: "!Ref", resolve: (v: string) => ({ Ref: v }) },
    { tag: "!Condition", resolve: (v: string) => ({ Condition: v }) },
    // !GetAtt A.B (scalar) or !GetAtt [A, B]
    {
      tag: "!GetAtt",
      resolve: (v: string) => {
        const dot = v.indexOf(".");
        return { "Fn::GetAtt": [v.slice(0, dot), v.slice(dot + 1)] };
      },
    },
    {
      tag: "!GetAtt",
      collection: "seq",
      resolve: (v) => ({ "Fn::GetAtt": (v as unknown as { toJSON(): unknown }).toJSON() }),
    },
  ];
  for (const name of FN_TAGS) {
    const key = `Fn::${name}`;
    tags.push({ tag: `!${name}`, resolve: (v: string) => ({ [key]: v }) });
    for (const collection of ["seq", "map"] as const) {
      tags.push({
        tag: `!${name}`,
        collection,
        resolve: (v) => ({ [key]: (v as unknown as { toJSON(): unknown }).toJSON() }),
      });
    }
  }
  return tags;
}

interface Template {
  name: string;
  text: string;
  doc: Document;
  t: {
    Parameters: Record<string, { Type: string; Default?: unknown }>;
    Conditions?: Record<string, unknown>;
    Resources: Record<string, Resource>;
    Outputs: Record<string, { Value: unknown }>;
  };
}
interface Resource {
  Type: string;
  Condition?: string;
  DependsOn?: string | string[];
  Properties: Record<string, unknown>;
}

async function load(name: string): Promise<Template> {
  const text = await Deno.readTextFile(new URL(name, INFRA));
  const doc = YAML.parseDocument(text, { customTags: cfnTags(), uniqueKeys: true });
  assert.deepEqual(doc.errors.map((e) => e.message), [], `${name} parses`);
  assert.deepEqual(doc.warnings.map((e) => e.message), [], `${name}: no unknown tags`);
  return { name, text, doc, t: doc.toJS() };
}

const PSEUDO = new Set([
  "AWS::AccountId",
  "AWS::NotificationARNs",
  "AWS::NoValue",
  "AWS::Partition",
  "AWS::Region",
  "AWS::StackId",
  "AWS::StackName",
  "AWS::URLSuffix",
]);

/** GetAtt attributes this project uses, per resource type (from the CloudFormation reference). */
const ATTRIBUTES: Record<string, string[]> = {
  "AWS::ApiGateway::RestApi": ["RootResourceId", "RestApiId"],
  "AWS::ECS::Service": ["Name", "ServiceArn"],
  "AWS::Events::Rule": ["Arn"],
  "AWS::IAM::Role": ["Arn", "RoleId"],
  "AWS::Lambda::Function": ["Arn"],
  "AWS::Logs::LogGroup": ["Arn"],
};

/** Every node of a JSON-ish value, with its path. */
function* walk(value: unknown, path: string[] = []): Generator<[unknown, string[]]> {
  yield [value, path];
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) yield* walk(value[i], [...path, String(i)]);
  } else if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) yield* walk(v, [...path, k]);
  }
}

function intrinsic(node: unknown, key: string): unknown {
  if (node && typeof node === "object" && !Array.isArray(node) && key in node) {
    return (node as Record<string, unknown>)[key];
  }
  return undefined;
}

/** `${Name}` / `${Res.Attr}` references in a Fn::Sub string (`${!Literal}` excluded). */
function subRefs(s: string): string[] {
  return [...s.matchAll(/\$\{([^!}][^}]*)\}/g)].map((m) => m[1]!.trim());
}

function checkReferences(tpl: Template): void {
  const { Parameters: params, Resources: res, Conditions: conds = {} } = tpl.t;
  const where = (p: string[]) => `${tpl.name}: ${p.join(".")}`;
  for (const id of Object.keys(params)) {
    assert.ok(!(id in res), `${tpl.name}: "${id}" is both a parameter and a resource`);
  }
  const known = (n: string) => n in params || n in res || PSEUDO.has(n);
  const getAtt = (resource: string, attr: string, p: string[]) => {
    const r = res[resource];
    assert.ok(r, `${where(p)}: GetAtt of unknown resource ${resource}`);
    const attrs = ATTRIBUTES[r.Type];
    assert.ok(attrs, `${where(p)}: GetAtt on ${r.Type}: add its attributes to ATTRIBUTES`);
    assert.ok(attrs.includes(attr), `${where(p)}: ${r.Type} has no attribute ${attr}`);
  };
  for (const [node, p] of walk(tpl.t)) {
    const ref = intrinsic(node, "Ref");
    if (ref !== undefined) assert.ok(known(String(ref)), `${where(p)}: Ref to unknown ${ref}`);
    const ga = intrinsic(node, "Fn::GetAtt") as [string, string] | undefined;
    if (ga !== undefined) getAtt(ga[0], ga[1], p);
    const sub = intrinsic(node, "Fn::Sub");
    if (sub !== undefined) {
      const [text, vars] = Array.isArray(sub) ? [sub[0] as string, sub[1] as object] : [
        sub as string,
        {},
      ];
      for (const r of subRefs(text)) {
        if (r in vars) continue;
        const dot = r.indexOf(".");
        if (dot > 0 && !r.startsWith("AWS::")) getAtt(r.slice(0, dot), r.slice(dot + 1), p);
        else assert.ok(known(r), `${where(p)}: \${${r}} names nothing`);
      }
    }
    const fnIf = intrinsic(node, "Fn::If") as unknown[] | undefined;
    if (fnIf !== undefined) {
      assert.ok(String(fnIf[0]) in conds, `${where(p)}: Fn::If on unknown condition ${fnIf[0]}`);
    }
  }
  for (const [id, r] of Object.entries(res)) {
    if (r.Condition) assert.ok(r.Condition in conds, `${tpl.name}: ${id} condition`);
    const deps = r.DependsOn === undefined ? [] : [r.DependsOn].flat();
    for (const d of deps) assert.ok(d in res, `${tpl.name}: ${id} DependsOn unknown ${d}`);
  }
}

/** Statements of every permissions policy (not trust policies). */
function policyStatements(tpl: Template): Array<{ role: string; s: Record<string, unknown> }> {
  const out: Array<{ role: string; s: Record<string, unknown> }> = [];
  for (const [id, r] of Object.entries(tpl.t.Resources)) {
    if (r.Type !== "AWS::IAM::Role") continue;
    const policies = (r.Properties["Policies"] ?? []) as Array<{ PolicyDocument: unknown }>;
    for (const p of policies) {
      const doc = p.PolicyDocument as { Statement: Record<string, unknown>[] };
      for (const s of doc.Statement) out.push({ role: id, s });
    }
    assert.equal(r.Properties["ManagedPolicyArns"], undefined, `${id}: no managed policies`);
  }
  return out;
}

/** Statement maps (YAML nodes) whose Resource is "*", with their leading comment. */
function starStatementComments(tpl: Template): string[] {
  const comments: string[] = [];
  YAML.visit(tpl.doc, {
    Pair(_k, pair, path) {
      if (!isScalar(pair.key) || pair.key.value !== "Resource") return;
      const star = (isScalar(pair.value) && pair.value.value === "*") ||
        (isSeq(pair.value) && pair.value.items.some((i) => isScalar(i) && i.value === "*"));
      if (!star) return;
      const statement = path[path.length - 1] as YAMLMap;
      assert.ok(isMap(statement));
      // A comment before the first item of a sequence belongs to the sequence.
      const seq = path[path.length - 2];
      const first = isSeq(seq) && seq.items[0] === statement;
      comments.push(statement.commentBefore ?? (first ? seq.commentBefore : undefined) ?? "");
    },
  });
  return comments;
}

const fargate = await load("fargate.yaml");
const lambda = await load("lambda.yaml");
const TEMPLATES = [fargate, lambda];

Deno.test("templates parse with CloudFormation tags and every Ref/GetAtt/Sub/If target exists", () => {
  for (const tpl of TEMPLATES) {
    assert.equal(tpl.t["AWSTemplateFormatVersion" as keyof Template["t"]], "2010-09-09");
    checkReferences(tpl);
  }
  // The checker itself catches a dangling reference.
  const bad = { ...lambda, t: structuredClone(lambda.t) };
  bad.t.Resources["Extra"] = {
    Type: "AWS::SNS::Topic",
    Properties: { TopicName: { "Fn::Sub": "${NoSuchParam}-x" } },
  };
  assert.throws(() => checkReferences(bad), /NoSuchParam/);
});

Deno.test("IAM: every statement is Allow on named actions; '*' resources only where AWS requires, with a comment", () => {
  const expectedStar = new Set([
    "fargate.yaml ecr:GetAuthorizationToken",
    "fargate.yaml cloudwatch:PutMetricData",
    "lambda.yaml ecs:ListTasks",
    "lambda.yaml ec2:DescribeNetworkInterfaces",
    "lambda.yaml cloudwatch:GetMetricData",
  ]);
  const seenStar = new Set<string>();
  for (const tpl of TEMPLATES) {
    let stars = 0;
    for (const { role, s } of policyStatements(tpl)) {
      assert.equal(s["Effect"], "Allow", `${role}: Allow only`);
      assert.equal(s["NotAction"], undefined);
      assert.equal(s["NotResource"], undefined);
      const actions = [s["Action"]].flat() as string[];
      for (const a of actions) {
        assert.match(a, /^[a-z0-9-]+:[A-Za-z]+$/, `${role}: action ${a} is named, not a wildcard`);
      }
      const resources = [s["Resource"]].flat();
      if (resources.includes("*")) {
        stars++;
        assert.equal(resources.length, 1);
        for (const a of actions) seenStar.add(`${tpl.name} ${a}`);
      }
    }
    const comments = starStatementComments(tpl);
    assert.equal(comments.length, stars);
    for (const c of comments) {
      assert.match(c, /AWS requires "\*": .{10,}/, `${tpl.name}: a '*' resource says why`);
    }
  }
  assert.deepEqual([...seenStar].sort(), [...expectedStar].sort());
});

Deno.test("IAM: the task role may only put metrics in the server's namespace", () => {
  const role = fargate.t.Resources["TaskRole"]!;
  const stmts = policyStatements({
    ...fargate,
    t: { ...fargate.t, Resources: { TaskRole: role } },
  });
  assert.equal(stmts.length, 1);
  const s = stmts[0]!.s;
  assert.equal(s["Action"], "cloudwatch:PutMetricData");
  // The namespace the server's emitter writes (and the aws provider reads by default).
  assert.deepEqual(s["Condition"], {
    StringEquals: { "cloudwatch:namespace": METRICS_NAMESPACE },
  });
});

Deno.test("IAM: Lambda roles reach only the one cluster/service, and only what each function calls", () => {
  const serviceArn =
    "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:service/${ClusterName}/${ServiceName}";
  const expected: Record<string, string[]> = {
    WakeRole: ["ecs:DescribeServices", "ecs:DescribeTasks", "ecs:ListTasks", "ecs:UpdateService"],
    QueryRole: [
      "ec2:DescribeNetworkInterfaces",
      "ecs:DescribeServices",
      "ecs:DescribeTasks",
      "ecs:ListTasks",
    ],
    KillRole: ["ecs:UpdateService"],
    SleepRole: [
      "cloudwatch:GetMetricData",
      "ecs:DescribeServices",
      "ecs:DescribeTasks",
      "ecs:ListTasks",
      "ecs:UpdateService",
    ],
  };
  const byRole = new Map<string, Set<string>>();
  for (const { role, s } of policyStatements(lambda)) {
    const actions = [s["Action"]].flat() as string[];
    const set = byRole.get(role) ?? new Set();
    for (const a of actions) if (!a.startsWith("logs:")) set.add(a);
    byRole.set(role, set);
    const resource = s["Resource"] as unknown;
    if (actions.some((a) => a === "ecs:UpdateService" || a === "ecs:DescribeServices")) {
      assert.deepEqual(resource, { "Fn::Sub": serviceArn }, `${role}: service-scoped`);
    }
    if (actions.includes("ecs:DescribeTasks")) {
      assert.deepEqual(resource, {
        "Fn::Sub":
          "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task/${ClusterName}/*",
      });
    }
    if (actions.includes("ecs:ListTasks")) {
      assert.ok(
        JSON.stringify(s["Condition"]).includes("cluster/${ClusterName}"),
        `${role}: ListTasks limited to the cluster`,
      );
    }
    if (actions.some((a) => a.startsWith("logs:"))) {
      const fn = role.replace(/Role$/, "");
      assert.deepEqual(resource, { "Fn::GetAtt": [`${fn}LogGroup`, "Arn"] }, `${role}: own logs`);
    }
  }
  assert.deepEqual(
    Object.fromEntries([...byRole].map(([r, s]) => [r, [...s].sort()])),
    expected,
  );
});

Deno.test("Lambda functions match lambdas/: handlers, bundles, layer, environment variables", async () => {
  const fns = Object.entries(lambda.t.Resources).filter(([, r]) =>
    r.Type === "AWS::Lambda::Function"
  );
  const names = fns.map(([, r]) => String(r.Properties["Handler"]).split(".")[0]).sort();
  assert.deepEqual(names, [...FUNCTIONS].sort());
  const envNames = Object.keys(LAMBDA_ENV).filter((n) => n !== "AWS_REGION").sort();
  for (const [id, r] of fns) {
    const p = r.Properties;
    const fn = String(p["Handler"]).split(".")[0]!;
    assert.equal(p["Handler"], `${fn}.handler`);
    const source = await Deno.readTextFile(new URL(`../lambdas/${fn}.ts`, import.meta.url));
    assert.match(source, /export const handler = createLifecycleLambda\("(\w+)"/);
    assert.ok(source.includes(`createLifecycleLambda("${fn}"`), `lambdas/${fn}.ts is ${fn}`);
    assert.equal(p["Runtime"], "provided.al2023", id);
    assert.deepEqual(p["Architectures"], ["x86_64"], `${id}: the layer's deno is x86_64`);
    assert.deepEqual(p["Layers"], [{ Ref: "DenoLayer" }]);
    assert.deepEqual(p["Code"], {
      S3Bucket: { Ref: "ArtifactBucket" },
      S3Key: { "Fn::Sub": `\${ArtifactPrefix}${fn}.zip` },
    });
    const vars = (p["Environment"] as { Variables: Record<string, unknown> }).Variables;
    assert.deepEqual(Object.keys(vars).sort(), envNames, `${id}: exactly the variables read`);
    // API Gateway gives up after 29 s; the functions behind it must answer before.
    if ((API_FUNCTIONS as readonly string[]).includes(fn)) assert.ok(Number(p["Timeout"]) <= 29);
  }
  const layer = lambda.t.Resources["DenoLayer"]!;
  assert.deepEqual(layer.Properties["CompatibleRuntimes"], ["provided.al2023"]);
  assert.deepEqual(layer.Properties["Content"], {
    S3Bucket: { Ref: "ArtifactBucket" },
    S3Key: { "Fn::Sub": "${ArtifactPrefix}layer.zip" },
  });
});

Deno.test("REST API: POST /wake /query /kill, each requiring an API key, proxied to its own function", () => {
  const res = lambda.t.Resources;
  const methods = Object.entries(res).filter(([, r]) => r.Type === "AWS::ApiGateway::Method");
  const paths: string[] = [];
  for (const [id, m] of methods) {
    const p = m.Properties;
    assert.equal(p["ApiKeyRequired"], true, `${id}: ApiKeyRequired`);
    assert.equal(p["HttpMethod"], "POST", id);
    const resourceId = (p["ResourceId"] as { Ref: string }).Ref;
    const path = String(res[resourceId]!.Properties["PathPart"]);
    paths.push(path);
    const integration = p["Integration"] as Record<string, unknown>;
    assert.equal(integration["Type"], "AWS_PROXY");
    assert.equal(integration["IntegrationHttpMethod"], "POST");
    const uri = String((integration["Uri"] as { "Fn::Sub": string })["Fn::Sub"]);
    const fnId = /\$\{(\w+)Function\.Arn\}/.exec(uri)?.[1];
    assert.equal(fnId?.toLowerCase(), path, `${id}: /${path} invokes the ${path} function`);
  }
  assert.deepEqual(paths.sort(), [...API_FUNCTIONS].sort());
  // API Gateway may invoke exactly those functions, on exactly that route.
  for (const path of API_FUNCTIONS) {
    const cap = path[0]!.toUpperCase() + path.slice(1);
    const perm = res[`${cap}ApiPermission`]!.Properties;
    assert.equal(perm["Principal"], "apigateway.amazonaws.com");
    assert.match(String((perm["SourceArn"] as { "Fn::Sub": string })["Fn::Sub"]), /\/\*\/POST\//);
  }
});

Deno.test("usage plan: throttle (rate, burst) and a daily quota, bound to the API key and stage", () => {
  const res = lambda.t.Resources;
  const plan = res["UsagePlan"]!.Properties;
  assert.deepEqual(plan["Throttle"], {
    RateLimit: { Ref: "ThrottleRateLimit" },
    BurstLimit: { Ref: "ThrottleBurstLimit" },
  });
  assert.deepEqual(plan["Quota"], { Limit: { Ref: "DailyQuota" }, Period: "DAY" });
  assert.deepEqual(plan["ApiStages"], [{ ApiId: { Ref: "Api" }, Stage: { Ref: "StageName" } }]);
  const key = res["UsagePlanKey"]!.Properties;
  assert.deepEqual(key, {
    KeyId: { Ref: "ApiKey" },
    KeyType: "API_KEY",
    UsagePlanId: { Ref: "UsagePlan" },
  });
});

Deno.test("schedules: sleep every 5 minutes, kill at the configurable cron, each allowed to invoke", () => {
  const res = lambda.t.Resources;
  const rules = Object.entries(res).filter(([, r]) => r.Type === "AWS::Events::Rule");
  const targets = new Map<string, unknown>();
  for (const [id, r] of rules) {
    const [target] = r.Properties["Targets"] as Array<{ Arn: { "Fn::GetAtt": string[] } }>;
    const fn = target!.Arn["Fn::GetAtt"][0]!.replace(/Function$/, "").toLowerCase();
    targets.set(fn, r.Properties["ScheduleExpression"]);
    assert.equal(r.Properties["State"], "ENABLED");
    const perm = Object.values(res).find((p) =>
      p.Type === "AWS::Lambda::Permission" &&
      JSON.stringify(p.Properties["SourceArn"]) === JSON.stringify({ "Fn::GetAtt": [id, "Arn"] })
    );
    assert.ok(perm, `${id}: a Lambda permission for events.amazonaws.com`);
    assert.equal(perm.Properties["Principal"], "events.amazonaws.com");
  }
  assert.deepEqual([...targets.keys()].sort(), [...SCHEDULED_FUNCTIONS].sort());
  assert.equal(targets.get("sleep"), "rate(5 minutes)");
  assert.deepEqual(targets.get("kill"), { Ref: "KillScheduleExpression" });
  assert.match(String(lambda.t.Parameters["KillScheduleExpression"]!.Default), /^cron\(.+\)$/);
});

Deno.test("alarms: one on Errors per function", () => {
  const alarms = Object.values(lambda.t.Resources).filter((r) =>
    r.Type === "AWS::CloudWatch::Alarm" && r.Properties["Namespace"] === "AWS/Lambda"
  );
  const watched = alarms.map((a) => {
    assert.equal(a.Properties["MetricName"], "Errors");
    const [dim] = a.Properties["Dimensions"] as Array<{ Value: { Ref: string } }>;
    return dim!.Value.Ref.replace(/Function$/, "").toLowerCase();
  });
  assert.deepEqual(watched.sort(), [...FUNCTIONS].sort());
});

Deno.test("outputs: API URL, API key id, cluster and service", () => {
  for (const o of ["ApiUrl", "ApiKeyId", "ClusterName", "ServiceName"]) {
    assert.ok(lambda.t.Outputs[o], `lambda.yaml output ${o}`);
  }
  for (const o of ["ClusterName", "ServiceName"]) assert.ok(fargate.t.Outputs[o]);
  // The two stacks agree by default.
  for (const p of ["ClusterName", "ServiceName"]) {
    assert.equal(lambda.t.Parameters[p]!.Default, fargate.t.Parameters[p]!.Default, p);
  }
  assert.equal(
    lambda.t.Parameters["ServerPort"]!.Default,
    fargate.t.Parameters["TunnelPort"]!.Default,
  );
});

Deno.test("Fargate: desired count 0, 0.25 vCPU / 512 MiB, public IP, one ingress rule, logs kept", () => {
  const res = fargate.t.Resources;
  const svc = res["Service"]!.Properties;
  assert.equal(svc["DesiredCount"], 0);
  assert.equal(svc["LaunchType"], "FARGATE");
  const net = (svc["NetworkConfiguration"] as { AwsvpcConfiguration: Record<string, unknown> })
    .AwsvpcConfiguration;
  assert.equal(net["AssignPublicIp"], "ENABLED");
  const td = res["TaskDefinition"]!.Properties;
  assert.equal(td["Cpu"], "256");
  assert.equal(td["Memory"], "512");
  const sg = res["SecurityGroup"]!.Properties;
  assert.deepEqual(sg["SecurityGroupIngress"], [{
    IpProtocol: "tcp",
    FromPort: { Ref: "TunnelPort" },
    ToPort: { Ref: "TunnelPort" },
    CidrIp: { Ref: "AllowedCidr" },
    Description: "mTLS tunnel",
  }]);
  assert.equal(fargate.t.Parameters["AllowedCidr"]!.Default, undefined, "the user must choose");
  assert.deepEqual(res["LogGroup"]!.Properties["RetentionInDays"], { Ref: "LogRetentionDays" });
});

Deno.test("Fargate container: server command, CloudWatch metrics on, TLS from Secrets Manager, env names the server reads", () => {
  const td = fargate.t.Resources["TaskDefinition"]!.Properties;
  const [c] = td["ContainerDefinitions"] as Array<Record<string, unknown>>;
  assert.deepEqual(c!["Command"], [
    "server",
    "--listen",
    { "Fn::Sub": "0.0.0.0:${TunnelPort}" },
    "--health-listen",
    "0.0.0.0:8081",
  ]);
  const env = Object.fromEntries(
    (c!["Environment"] as Array<{ Name: string; Value: unknown }>).map((e) => [e.Name, e.Value]),
  );
  assert.equal(env["FLUIDITY_METRICS_CLOUDWATCH"], "true");
  const secrets = c!["Secrets"] as Array<{ Name: string; ValueFrom: unknown }>;
  assert.deepEqual(secrets.map((s) => [s.Name, s.ValueFrom]), [
    ["FLUIDITY_TLS_CERT", { Ref: "ServerCertSecretArn" }],
    ["FLUIDITY_TLS_KEY", { Ref: "ServerKeySecretArn" }],
    ["FLUIDITY_TLS_CA", { Ref: "CaCertSecretArn" }],
  ]);
  // Every FLUIDITY_* variable is one the server's config schema reads.
  const serverEnv = new Set(SERVER_FIELDS.map((f) => envName(f.key)));
  for (const name of [...Object.keys(env), ...secrets.map((s) => s.Name)]) {
    assert.ok(serverEnv.has(name), `${name} is a server setting`);
  }
  assert.deepEqual(c!["PortMappings"], [{ ContainerPort: { Ref: "TunnelPort" }, Protocol: "tcp" }]);
  const hc = (c!["HealthCheck"] as { Command: string[] }).Command.join(" ");
  assert.match(hc, /http:\/\/127\.0\.0\.1:8081\/healthz/);
  assert.equal(c!["User"], "10001:10001");
});

Deno.test("Dockerfile: non-root, only the tunnel and health ports, HEALTHCHECK on /healthz, compiled binary", async () => {
  const text = await Deno.readTextFile(new URL("Dockerfile", INFRA));
  const lines = text.split("\n").filter((l) => l.trim() && !l.trim().startsWith("#"));
  const instr = (name: string) => lines.filter((l) => l.startsWith(`${name} `));
  const users = instr("USER");
  assert.equal(users.length, 1);
  assert.match(users[0]!, /^USER 10001:10001$/);
  assert.ok(
    text.indexOf("USER 10001") > text.lastIndexOf("RUN "),
    "no RUN after dropping to the non-root user",
  );
  assert.deepEqual(instr("EXPOSE"), ["EXPOSE 8443 8081"]);
  assert.match(instr("HEALTHCHECK")[0]!, /^HEALTHCHECK /);
  assert.match(
    text,
    /CMD \["curl", "-fsS", "-o", "\/dev\/null", "http:\/\/127\.0\.0\.1:8081\/healthz"\]/,
  );
  assert.match(text, /COPY .*dist\/fluidity-x86_64-unknown-linux-gnu \/usr\/local\/bin\/fluidity/);
  assert.match(
    text,
    /CMD \["server", "--listen", "0\.0\.0\.0:8443", "--health-listen", "0\.0\.0\.0:8081"\]/,
  );
  const ignore = await Deno.readTextFile(new URL("Dockerfile.dockerignore", INFRA));
  assert.match(ignore, /^\*$/m);
  assert.match(ignore, /^!dist\/fluidity-x86_64-unknown-linux-gnu$/m);
});
