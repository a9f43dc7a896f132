import assert from "node:assert/strict";
import { mockClient } from "aws-sdk-client-mock";
import {
  DescribeServicesCommand,
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
  ServiceNotFoundException,
  UpdateServiceCommand,
} from "@aws-sdk/client-ecs";
import { DescribeNetworkInterfacesCommand, EC2Client } from "@aws-sdk/client-ec2";
import { CloudWatchClient, GetMetricDataCommand } from "@aws-sdk/client-cloudwatch";
import { createAwsProvider } from "./aws_provider.ts";
import { ProviderError, ProviderThrottledError } from "./types.ts";
import { query, sleep, wake } from "./handlers.ts";
import { handleLifecycleRequest } from "./http_api.ts";

const CLUSTER = "fluidity";
const SERVICE = "fluidity-server";
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const TASK_ARN = "arn:aws:ecs:us-east-1:123456789012:task/fluidity/abc";
const ENI = "eni-0123456789abcdef0";

function setup() {
  const cfg = {
    region: "us-east-1",
    credentials: { accessKeyId: "AKIDTEST", secretAccessKey: "x" },
  };
  const ecs = new ECSClient(cfg);
  const ec2 = new EC2Client(cfg);
  const cloudwatch = new CloudWatchClient(cfg);
  const mocks = { ecs: mockClient(ecs), ec2: mockClient(ec2), cw: mockClient(cloudwatch) };
  const provider = createAwsProvider({
    ecs,
    ec2,
    cloudwatch,
    cluster: CLUSTER,
    service: SERVICE,
    now: () => T0 + 3_600_000,
  });
  return {
    provider,
    ...mocks,
    [Symbol.dispose]() {
      mocks.ecs.restore();
      mocks.ec2.restore();
      mocks.cw.restore();
      ecs.destroy();
      ec2.destroy();
      cloudwatch.destroy();
    },
  };
}

function service(desiredCount: number, runningCount: number, pendingCount = 0) {
  return {
    services: [{
      serviceName: SERVICE,
      status: "ACTIVE",
      desiredCount,
      runningCount,
      pendingCount,
    }],
    failures: [],
  };
}

function task(lastStatus: string, opts: { eni?: boolean; startedAt?: Date } = {}) {
  return {
    taskArn: TASK_ARN,
    lastStatus,
    startedAt: opts.startedAt,
    attachments: opts.eni === false ? [] : [{
      type: "ElasticNetworkInterface",
      status: "ATTACHED",
      details: [
        { name: "subnetId", value: "subnet-1" },
        { name: "networkInterfaceId", value: ENI },
        { name: "privateIPv4Address", value: "10.0.1.5" },
      ],
    }],
  };
}

Deno.test("aws provider: a stopped service (desired 0) is stopped and wake scales it to 1", async () => {
  using s = setup();
  s.ecs.on(DescribeServicesCommand).resolves(service(0, 0));
  s.ecs.on(UpdateServiceCommand).resolves({});
  assert.deepEqual(await s.provider.describe(), {
    desiredCount: 0,
    runningCount: 0,
    pendingCount: 0,
    startedAt: null,
  });
  assert.deepEqual(await s.provider.locate(), { status: "stopped", publicIp: null, port: 8443 });
  assert.equal(s.ecs.commandCalls(ListTasksCommand).length, 0);
  assert.deepEqual(await wake({ provider: s.provider }), {
    status: "waking",
    desiredCount: 1,
    runningCount: 0,
  });
  const upd = s.ecs.commandCalls(UpdateServiceCommand);
  assert.equal(upd.length, 1);
  assert.deepEqual(upd[0]!.args[0].input, { cluster: CLUSTER, service: SERVICE, desiredCount: 1 });
});

Deno.test("aws provider: a pending service (no task yet) is starting", async () => {
  using s = setup();
  s.ecs.on(DescribeServicesCommand).resolves(service(1, 0, 1));
  s.ecs.on(ListTasksCommand).resolves({ taskArns: [] });
  assert.deepEqual(await s.provider.locate(), { status: "starting", publicIp: null, port: 8443 });
  assert.equal((await wake({ provider: s.provider })).status, "starting");
  assert.equal(s.ecs.commandCalls(UpdateServiceCommand).length, 0);
});

Deno.test("aws provider: a PROVISIONING/PENDING task is starting", async () => {
  using s = setup();
  s.ecs.on(DescribeServicesCommand).resolves(service(1, 0, 1));
  s.ecs.on(ListTasksCommand).resolves({ taskArns: [TASK_ARN] });
  s.ecs.on(DescribeTasksCommand).resolves({ tasks: [task("PENDING")] });
  assert.deepEqual(await s.provider.locate(), { status: "starting", publicIp: null, port: 8443 });
  assert.equal(s.ec2.commandCalls(DescribeNetworkInterfacesCommand).length, 0);
});

Deno.test("aws provider: a running task without an ENI yet is starting", async () => {
  using s = setup();
  s.ecs.on(DescribeServicesCommand).resolves(service(1, 1));
  s.ecs.on(ListTasksCommand).resolves({ taskArns: [TASK_ARN] });
  s.ecs.on(DescribeTasksCommand).resolves({ tasks: [task("RUNNING", { eni: false })] });
  assert.deepEqual(await s.provider.locate(), { status: "starting", publicIp: null, port: 8443 });
  assert.equal(s.ec2.commandCalls(DescribeNetworkInterfacesCommand).length, 0);
});

Deno.test("aws provider: an ENI without a public IP yet is starting", async () => {
  using s = setup();
  s.ecs.on(DescribeServicesCommand).resolves(service(1, 1));
  s.ecs.on(ListTasksCommand).resolves({ taskArns: [TASK_ARN] });
  s.ecs.on(DescribeTasksCommand).resolves({ tasks: [task("RUNNING")] });
  s.ec2.on(DescribeNetworkInterfacesCommand).resolves({
    NetworkInterfaces: [{ NetworkInterfaceId: ENI }],
  });
  assert.deepEqual(await s.provider.locate(), { status: "starting", publicIp: null, port: 8443 });
});

Deno.test("aws provider: a running task reports its ENI's public IP", async () => {
  using s = setup();
  s.ecs.on(DescribeServicesCommand).resolves(service(1, 1));
  s.ecs.on(ListTasksCommand).resolves({ taskArns: [TASK_ARN] });
  s.ecs.on(DescribeTasksCommand).resolves({
    tasks: [task("RUNNING", { startedAt: new Date(T0) })],
  });
  s.ec2.on(DescribeNetworkInterfacesCommand, { NetworkInterfaceIds: [ENI] }).resolves({
    NetworkInterfaces: [{ NetworkInterfaceId: ENI, Association: { PublicIp: "203.0.113.7" } }],
  });
  assert.deepEqual(await query({ provider: s.provider }), {
    status: "running",
    publicIp: "203.0.113.7",
    port: 8443,
  });
  const lt = s.ecs.commandCalls(ListTasksCommand)[0]!.args[0].input;
  assert.deepEqual(lt, { cluster: CLUSTER, serviceName: SERVICE, desiredStatus: "RUNNING" });
  assert.deepEqual(await s.provider.describe(), {
    desiredCount: 1,
    runningCount: 1,
    pendingCount: 0,
    startedAt: T0,
  });
  assert.equal((await wake({ provider: s.provider })).status, "already_running");
});

Deno.test("aws provider: a task still running after kill (desired 0) is stopped", async () => {
  using s = setup();
  s.ecs.on(DescribeServicesCommand).resolves(service(0, 1));
  assert.equal((await s.provider.locate()).status, "stopped");
});

Deno.test("aws provider: a missing service is a ProviderError naming it", async () => {
  using s = setup();
  s.ecs.on(DescribeServicesCommand).resolves({
    services: [],
    failures: [{ arn: `arn:aws:ecs:us-east-1:1:service/${SERVICE}`, reason: "MISSING" }],
  });
  await assert.rejects(s.provider.describe(), (e) => {
    assert.ok(e instanceof ProviderError);
    assert.match(
      e.message,
      /ECS service "fluidity-server" in cluster "fluidity" not found \(MISSING\)/,
    );
    return true;
  });
  const r = await handleLifecycleRequest(
    { method: "POST", path: "/query", headers: {} },
    { provider: s.provider },
  );
  assert.equal(r.statusCode, 500);
  assert.match(JSON.parse(r.body).message, /not found/);
});

Deno.test("aws provider: an INACTIVE service is reported as not found", async () => {
  using s = setup();
  s.ecs.on(DescribeServicesCommand).resolves({
    services: [{ serviceName: SERVICE, status: "INACTIVE", desiredCount: 0 }],
  });
  await assert.rejects(s.provider.locate(), /not found \(INACTIVE\)/);
});

Deno.test("aws provider: ServiceNotFoundException from UpdateService is a ProviderError", async () => {
  using s = setup();
  s.ecs.on(UpdateServiceCommand).rejects(
    new ServiceNotFoundException({ message: "Service not found.", $metadata: {} }),
  );
  await assert.rejects(s.provider.scale(1), (e) => {
    assert.ok(e instanceof ProviderError && !(e instanceof ProviderThrottledError));
    assert.match(e.message, /ECS UpdateService .*ServiceNotFoundException/);
    return true;
  });
});

Deno.test("aws provider: throttling becomes ProviderThrottledError and HTTP 503", async () => {
  using s = setup();
  const err = Object.assign(new Error("Rate exceeded"), {
    name: "ThrottlingException",
    $metadata: { httpStatusCode: 400 },
  });
  s.ecs.on(DescribeServicesCommand).rejects(err);
  await assert.rejects(s.provider.describe(), ProviderThrottledError);
  const r = await handleLifecycleRequest(
    { method: "POST", path: "/wake", headers: {} },
    { provider: s.provider },
  );
  assert.equal(r.statusCode, 503);
  assert.ok(Number(r.headers["retry-after"]) >= 1);
});

Deno.test("aws provider: EC2 RequestLimitExceeded is throttling too", async () => {
  using s = setup();
  s.ecs.on(DescribeServicesCommand).resolves(service(1, 1));
  s.ecs.on(ListTasksCommand).resolves({ taskArns: [TASK_ARN] });
  s.ecs.on(DescribeTasksCommand).resolves({ tasks: [task("RUNNING")] });
  s.ec2.on(DescribeNetworkInterfacesCommand).rejects(
    Object.assign(new Error("Request limit exceeded."), { name: "RequestLimitExceeded" }),
  );
  await assert.rejects(s.provider.locate(), ProviderThrottledError);
});

Deno.test("aws provider: other SDK errors are ProviderErrors with context", async () => {
  using s = setup();
  s.ecs.on(DescribeServicesCommand).rejects(
    Object.assign(new Error("not authorized"), { name: "AccessDeniedException" }),
  );
  await assert.rejects(
    s.provider.locate(),
    /ECS DescribeServices for .* failed: AccessDeniedException/,
  );
});

Deno.test("aws provider: activity() reads GetMetricData (latest connections, newest activity)", async () => {
  using s = setup();
  const t = (min: number) => new Date(T0 + min * 60_000);
  s.cw.on(GetMetricDataCommand).resolves({
    MetricDataResults: [
      { Id: "active", Values: [0, 3], Timestamps: [t(59), t(40)] },
      { Id: "last", Values: [T0 / 1000 + 2400, T0 / 1000 + 2300], Timestamps: [t(59), t(40)] },
    ],
  });
  assert.deepEqual(await s.provider.activity(), {
    activeConnections: 0,
    lastActivityEpochSeconds: T0 / 1000 + 2400,
  });
  const input = s.cw.commandCalls(GetMetricDataCommand)[0]!.args[0].input;
  assert.equal(input.MetricDataQueries?.length, 2);
  const metric = input.MetricDataQueries![0]!.MetricStat!.Metric!;
  assert.equal(metric.Namespace, "Fluidity");
  assert.equal(metric.MetricName, "ActiveConnections");
  assert.deepEqual(metric.Dimensions, [{ Name: "Service", Value: "fluidity-server" }]);
  assert.equal(
    input.MetricDataQueries![1]!.MetricStat!.Metric!.MetricName,
    "LastActivityEpochSeconds",
  );
  assert.equal(input.EndTime!.getTime(), T0 + 3_600_000);
  assert.equal(input.StartTime!.getTime(), T0);
});

Deno.test("aws provider: activity() with no datapoints is all null", async () => {
  using s = setup();
  s.cw.on(GetMetricDataCommand).resolves({
    MetricDataResults: [{ Id: "active", Values: [], Timestamps: [] }, { Id: "last" }],
  });
  assert.deepEqual(await s.provider.activity(), {
    activeConnections: null,
    lastActivityEpochSeconds: null,
  });
});

Deno.test("aws provider: sleep scales an idle service down and keeps a busy one", async () => {
  using s = setup();
  const now = T0 + 3_600_000;
  s.ecs.on(DescribeServicesCommand).resolves(service(1, 1));
  s.ecs.on(ListTasksCommand).resolves({ taskArns: [TASK_ARN] });
  s.ecs.on(DescribeTasksCommand).resolves({
    tasks: [task("RUNNING", { startedAt: new Date(T0) })],
  });
  s.ecs.on(UpdateServiceCommand).resolves({});
  s.cw.on(GetMetricDataCommand).resolvesOnce({
    MetricDataResults: [
      { Id: "active", Values: [1], Timestamps: [new Date(now - 60_000)] },
      { Id: "last", Values: [(now - 30 * 60_000) / 1000], Timestamps: [new Date(now - 60_000)] },
    ],
  }).resolves({
    MetricDataResults: [
      { Id: "active", Values: [0], Timestamps: [new Date(now - 60_000)] },
      { Id: "last", Values: [(now - 30 * 60_000) / 1000], Timestamps: [new Date(now - 60_000)] },
    ],
  });
  assert.equal((await sleep({ provider: s.provider, now: () => now })).action, "kept");
  assert.equal(s.ecs.commandCalls(UpdateServiceCommand).length, 0);
  assert.equal((await sleep({ provider: s.provider, now: () => now })).action, "scaled_down");
  const upd = s.ecs.commandCalls(UpdateServiceCommand);
  assert.equal(upd.length, 1);
  assert.equal(upd[0]!.args[0].input.desiredCount, 0);
});
