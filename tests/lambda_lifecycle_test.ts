/**
 * Each lifecycle Lambda end to end in-process: fixture API Gateway (REST v1)
 * and EventBridge events in, `aws-sdk-client-mock` at the SDK boundary, proxy
 * responses (or scheduled results) out.
 */
import assert from "node:assert/strict";
import { mockClient } from "aws-sdk-client-mock";
import {
  DescribeServicesCommand,
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
  UpdateServiceCommand,
} from "@aws-sdk/client-ecs";
import { DescribeNetworkInterfacesCommand, EC2Client } from "@aws-sdk/client-ec2";
import { CloudWatchClient, GetMetricDataCommand } from "@aws-sdk/client-cloudwatch";
import {
  type ApiGatewayProxyResult,
  createLifecycleLambda,
  lambdaConfigFromEnv,
  type LifecycleFunction,
} from "../lambdas/lifecycle_lambda.ts";
import { type LambdaContext, runRuntime } from "../lambdas/runtime.ts";
import { startFakeRuntimeApi } from "../lambdas/_fake_runtime_api.ts";
import { ConfigError } from "../src/errors.ts";
import { silentLogger } from "../src/log/logger.ts";

const FIXTURES = new URL("./fixtures/lambda/", import.meta.url);
const CLUSTER = "fluidity";
const SERVICE = "fluidity-server";
const NOW = Date.UTC(2026, 10, 22, 3, 0, 0);
const ENV = { CLUSTER, SERVICE, AWS_REGION: "eu-west-1" };

async function fixture(name: string): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(new URL(name, FIXTURES)));
}

function context(): LambdaContext {
  return {
    requestId: "req-1",
    deadlineMs: NOW + 30_000,
    functionArn: "arn:aws:lambda:eu-west-1:123456789012:function:fluidity-test",
    traceId: "",
    remainingMs: () => 30_000,
    signal: new AbortController().signal,
  };
}

/** Fresh clients and mocks for one test (mocks bound to instances, not prototypes). */
function setup(fn: LifecycleFunction, env: Record<string, string> = {}) {
  const credentials = { accessKeyId: "AKIDTEST", secretAccessKey: "test" };
  const clients = {
    ecs: new ECSClient({ region: "eu-west-1", credentials }),
    ec2: new EC2Client({ region: "eu-west-1", credentials }),
    cloudwatch: new CloudWatchClient({ region: "eu-west-1", credentials }),
  };
  const ecs = mockClient(clients.ecs);
  const ec2 = mockClient(clients.ec2);
  const cw = mockClient(clients.cloudwatch);
  const handler = createLifecycleLambda(fn, {
    env: { ...ENV, ...env },
    clients,
    now: () => NOW,
    logger: silentLogger(),
  });
  const invoke = (event: unknown) => Promise.resolve(handler(event, context()));
  const restore = () => {
    ecs.restore();
    ec2.restore();
    cw.restore();
  };
  return { ecs, ec2, cw, invoke, restore };
}

function service(desiredCount: number, runningCount: number) {
  return {
    services: [{
      serviceName: SERVICE,
      serviceArn: `arn:aws:ecs:eu-west-1:123456789012:service/${CLUSTER}/${SERVICE}`,
      status: "ACTIVE",
      desiredCount,
      runningCount,
      pendingCount: 0,
    }],
    failures: [],
  };
}

const TASK_ARN = `arn:aws:ecs:eu-west-1:123456789012:task/${CLUSTER}/0123456789abcdef`;
function runningTask(startedAt: number) {
  return {
    tasks: [{
      taskArn: TASK_ARN,
      lastStatus: "RUNNING",
      desiredStatus: "RUNNING",
      startedAt: new Date(startedAt),
      attachments: [{
        type: "ElasticNetworkInterface",
        status: "ATTACHED",
        details: [
          { name: "subnetId", value: "subnet-0abc" },
          { name: "networkInterfaceId", value: "eni-0123456789abcdef0" },
        ],
      }],
    }],
  };
}

function awsError(name: string, status: number): Error {
  return Object.assign(new Error(`${name} from the mock`), {
    name,
    $fault: status >= 500 ? "server" : "client",
    $metadata: { httpStatusCode: status },
  });
}

function parse(res: unknown): { statusCode: number; body: Record<string, unknown> } {
  const r = res as ApiGatewayProxyResult;
  assert.equal(r.headers["content-type"], "application/json");
  assert.equal(r.isBase64Encoded, false);
  return { statusCode: r.statusCode, body: JSON.parse(r.body) };
}

Deno.test("wake Lambda scales a stopped service to 1 and answers 200 waking", async () => {
  const m = setup("wake");
  try {
    m.ecs.on(DescribeServicesCommand).resolves(service(0, 0));
    m.ecs.on(UpdateServiceCommand).resolves({});
    const res = parse(await m.invoke(await fixture("apigw_wake.json")));
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.body, { status: "waking", desiredCount: 1, runningCount: 0 });
    assert.deepEqual(m.ecs.commandCalls(DescribeServicesCommand)[0]!.args[0].input, {
      cluster: CLUSTER,
      services: [SERVICE],
    });
    const updates = m.ecs.commandCalls(UpdateServiceCommand);
    assert.equal(updates.length, 1);
    assert.deepEqual(updates[0]!.args[0].input, {
      cluster: CLUSTER,
      service: SERVICE,
      desiredCount: 1,
    });
  } finally {
    m.restore();
  }
});

Deno.test("wake Lambda leaves a running service alone: 200 already_running, no UpdateService", async () => {
  const m = setup("wake");
  try {
    m.ecs.on(DescribeServicesCommand).resolves(service(1, 1));
    m.ecs.on(ListTasksCommand).resolves({ taskArns: [TASK_ARN] });
    m.ecs.on(DescribeTasksCommand).resolves(runningTask(NOW - 60_000));
    const res = parse(await m.invoke(await fixture("apigw_wake.json")));
    assert.deepEqual(res, {
      statusCode: 200,
      body: { status: "already_running", desiredCount: 1, runningCount: 1 },
    });
    assert.equal(m.ecs.commandCalls(UpdateServiceCommand).length, 0);
  } finally {
    m.restore();
  }
});

Deno.test("wake Lambda maps AWS throttling to 503 with Retry-After", async () => {
  const m = setup("wake");
  try {
    m.ecs.on(DescribeServicesCommand).rejects(awsError("ThrottlingException", 400));
    const raw = await m.invoke(await fixture("apigw_wake.json")) as ApiGatewayProxyResult;
    const res = parse(raw);
    assert.equal(res.statusCode, 503);
    assert.match(String(res.body["message"]), /throttled/);
    assert.ok(Number(raw.headers["retry-after"]) >= 1);
  } finally {
    m.restore();
  }
});

Deno.test("wake Lambda maps an AWS failure (access denied) to 500 naming the call", async () => {
  const m = setup("wake");
  try {
    m.ecs.on(DescribeServicesCommand).resolves(service(0, 0));
    m.ecs.on(UpdateServiceCommand).rejects(awsError("AccessDeniedException", 400));
    const res = parse(await m.invoke(await fixture("apigw_wake.json")));
    assert.equal(res.statusCode, 500);
    assert.match(String(res.body["message"]), /UpdateService.*AccessDeniedException/);
  } finally {
    m.restore();
  }
});

Deno.test("wake Lambda answers 405 to GET and 404 to another function's route", async () => {
  const m = setup("wake");
  try {
    const get = { ...(await fixture("apigw_wake.json")), httpMethod: "GET" };
    const r405 = parse(await m.invoke(get));
    assert.equal(r405.statusCode, 405);
    const other = parse(await m.invoke(await fixture("apigw_query.json")));
    assert.equal(other.statusCode, 404);
    assert.equal(m.ecs.calls().length, 0, "no AWS call for a refused request");
  } finally {
    m.restore();
  }
});

Deno.test("wake Lambda refuses a scheduled event (it runs only through the API)", async () => {
  const m = setup("wake");
  try {
    await assert.rejects(
      m.invoke(await fixture("scheduled_kill.json")),
      /does not run on a schedule/,
    );
    await assert.rejects(m.invoke({ hello: 1 }), /unsupported event/);
  } finally {
    m.restore();
  }
});

Deno.test("query Lambda reports running with the ENI's public IP", async () => {
  const m = setup("query");
  try {
    m.ecs.on(DescribeServicesCommand).resolves(service(1, 1));
    m.ecs.on(ListTasksCommand).resolves({ taskArns: [TASK_ARN] });
    m.ecs.on(DescribeTasksCommand).resolves(runningTask(NOW - 60_000));
    m.ec2.on(DescribeNetworkInterfacesCommand).resolves({
      NetworkInterfaces: [{
        NetworkInterfaceId: "eni-0123456789abcdef0",
        Association: { PublicIp: "203.0.113.10" },
      }],
    });
    const res = parse(await m.invoke(await fixture("apigw_query.json")));
    assert.deepEqual(res, {
      statusCode: 200,
      body: { status: "running", publicIp: "203.0.113.10", port: 8443 },
    });
    assert.deepEqual(m.ecs.commandCalls(ListTasksCommand)[0]!.args[0].input, {
      cluster: CLUSTER,
      serviceName: SERVICE,
      desiredStatus: "RUNNING",
    });
    assert.deepEqual(m.ecs.commandCalls(DescribeTasksCommand)[0]!.args[0].input, {
      cluster: CLUSTER,
      tasks: [TASK_ARN],
    });
    assert.deepEqual(m.ec2.commandCalls(DescribeNetworkInterfacesCommand)[0]!.args[0].input, {
      NetworkInterfaceIds: ["eni-0123456789abcdef0"],
    });
    assert.equal(m.ecs.commandCalls(UpdateServiceCommand).length, 0, "query never scales");
  } finally {
    m.restore();
  }
});

Deno.test("query Lambda reports stopped with a null IP, and SERVER_PORT as the port", async () => {
  const m = setup("query", { SERVER_PORT: "9443" });
  try {
    m.ecs.on(DescribeServicesCommand).resolves(service(0, 0));
    const res = parse(await m.invoke(await fixture("apigw_query.json")));
    assert.deepEqual(res, {
      statusCode: 200,
      body: { status: "stopped", publicIp: null, port: 9443 },
    });
    assert.equal(m.ec2.calls().length, 0);
  } finally {
    m.restore();
  }
});

Deno.test("query Lambda answers 500 when the service does not exist", async () => {
  const m = setup("query");
  try {
    m.ecs.on(DescribeServicesCommand).resolves({
      services: [],
      failures: [{ arn: "x", reason: "MISSING" }],
    });
    const res = parse(await m.invoke(await fixture("apigw_query.json")));
    assert.equal(res.statusCode, 500);
    assert.match(String(res.body["message"]), /not found \(MISSING\)/);
  } finally {
    m.restore();
  }
});

Deno.test("kill Lambda through the API scales to 0 and answers 200 killed", async () => {
  const m = setup("kill");
  try {
    m.ecs.on(UpdateServiceCommand).resolves({});
    const res = parse(await m.invoke(await fixture("apigw_kill.json")));
    assert.deepEqual(res, { statusCode: 200, body: { status: "killed", desiredCount: 0 } });
    assert.deepEqual(m.ecs.commandCalls(UpdateServiceCommand)[0]!.args[0].input, {
      cluster: CLUSTER,
      service: SERVICE,
      desiredCount: 0,
    });
  } finally {
    m.restore();
  }
});

Deno.test("kill Lambda on its daily schedule scales to 0; an AWS failure fails the invocation", async () => {
  const m = setup("kill");
  try {
    m.ecs.on(UpdateServiceCommand).resolvesOnce({}).rejects(
      awsError("ServiceNotActiveException", 400),
    );
    const event = await fixture("scheduled_kill.json");
    assert.deepEqual(await m.invoke(event), { status: "killed", desiredCount: 0 });
    // A scheduled run has no HTTP caller: the error must surface as a function error
    // (Lambda's Errors metric, which the template alarms on).
    await assert.rejects(m.invoke(event), /ServiceNotActiveException/);
  } finally {
    m.restore();
  }
});

Deno.test("sleep Lambda scales an idle server to 0, reading the server's CloudWatch metrics", async () => {
  const m = setup("sleep");
  try {
    m.ecs.on(DescribeServicesCommand).resolves(service(1, 1));
    m.ecs.on(ListTasksCommand).resolves({ taskArns: [TASK_ARN] });
    m.ecs.on(DescribeTasksCommand).resolves(runningTask(NOW - 2 * 3600_000));
    m.ecs.on(UpdateServiceCommand).resolves({});
    m.cw.on(GetMetricDataCommand).resolves({
      MetricDataResults: [
        { Id: "active", Values: [0], Timestamps: [new Date(NOW - 60_000)] },
        { Id: "last", Values: [(NOW - 3600_000) / 1000], Timestamps: [new Date(NOW - 60_000)] },
      ],
    });
    const result = await m.invoke(await fixture("scheduled_sleep.json")) as { action: string };
    assert.equal(result.action, "scaled_down");
    assert.deepEqual(m.ecs.commandCalls(UpdateServiceCommand)[0]!.args[0].input, {
      cluster: CLUSTER,
      service: SERVICE,
      desiredCount: 0,
    });
    const q = m.cw.commandCalls(GetMetricDataCommand)[0]!.args[0].input;
    const metrics = q.MetricDataQueries!.map((d) => d.MetricStat!.Metric!);
    assert.deepEqual(metrics.map((x) => x.MetricName).sort(), [
      "ActiveConnections",
      "LastActivityEpochSeconds",
    ]);
    for (const x of metrics) {
      assert.equal(x.Namespace, "Fluidity");
      assert.deepEqual(x.Dimensions, [{ Name: "Service", Value: "fluidity-server" }]);
    }
  } finally {
    m.restore();
  }
});

Deno.test("sleep Lambda keeps a busy server, and honours IDLE_MINUTES", async (t) => {
  await t.step("active connections", async () => {
    const m = setup("sleep");
    try {
      m.ecs.on(DescribeServicesCommand).resolves(service(1, 1));
      m.ecs.on(ListTasksCommand).resolves({ taskArns: [TASK_ARN] });
      m.ecs.on(DescribeTasksCommand).resolves(runningTask(NOW - 2 * 3600_000));
      m.cw.on(GetMetricDataCommand).resolves({
        MetricDataResults: [
          { Id: "active", Values: [3], Timestamps: [new Date(NOW - 60_000)] },
          { Id: "last", Values: [NOW / 1000 - 30], Timestamps: [new Date(NOW - 60_000)] },
        ],
      });
      const result = await m.invoke(await fixture("scheduled_sleep.json")) as { action: string };
      assert.equal(result.action, "kept");
      assert.equal(m.ecs.commandCalls(UpdateServiceCommand).length, 0);
    } finally {
      m.restore();
    }
  });
  await t.step("idle 60 min with IDLE_MINUTES=120", async () => {
    const m = setup("sleep", { IDLE_MINUTES: "120", GRACE_MINUTES: "0" });
    try {
      m.ecs.on(DescribeServicesCommand).resolves(service(1, 1));
      m.ecs.on(ListTasksCommand).resolves({ taskArns: [TASK_ARN] });
      m.ecs.on(DescribeTasksCommand).resolves(runningTask(NOW - 3 * 3600_000));
      m.cw.on(GetMetricDataCommand).resolves({
        MetricDataResults: [
          { Id: "active", Values: [0], Timestamps: [new Date(NOW - 60_000)] },
          { Id: "last", Values: [(NOW - 3600_000) / 1000], Timestamps: [new Date(NOW - 60_000)] },
        ],
      });
      const result = await m.invoke(await fixture("scheduled_sleep.json")) as {
        action: string;
        reason: string;
      };
      assert.equal(result.action, "kept");
      assert.match(result.reason, /less than 120 min/);
    } finally {
      m.restore();
    }
  });
});

Deno.test("sleep Lambda is not on the API: an API Gateway event gets 404", async () => {
  const m = setup("sleep");
  try {
    const event = { ...(await fixture("apigw_wake.json")), path: "/sleep", resource: "/sleep" };
    const res = parse(await m.invoke(event));
    assert.equal(res.statusCode, 404);
    assert.equal(m.ecs.calls().length, 0);
  } finally {
    m.restore();
  }
});

Deno.test("lambdaConfigFromEnv() names every bad variable in one ConfigError", () => {
  assert.throws(
    () => lambdaConfigFromEnv({ IDLE_MINUTES: "0", SERVER_PORT: "http", LOG_LEVEL: "loud" }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      for (
        const part of [
          "CLUSTER is not set",
          "SERVICE is not set",
          "AWS_REGION is not set",
          'IDLE_MINUTES must be an integer from 1 to 1440, got "0"',
          'SERVER_PORT must be an integer from 1 to 65535, got "http"',
          "LOG_LEVEL must be one of",
        ]
      ) assert.ok(err.message.includes(part), `${err.message} should include ${part}`);
      return true;
    },
  );
  assert.deepEqual(lambdaConfigFromEnv(ENV), {
    cluster: CLUSTER,
    service: SERVICE,
    region: "eu-west-1",
    serverPort: 8443,
    idleMinutes: 15,
    graceMinutes: 10,
    logLevel: "info",
  });
});

Deno.test("createLifecycleLambda() fails at creation (cold start) on bad configuration", () => {
  assert.throws(
    () => createLifecycleLambda("wake", { env: { SERVICE, AWS_REGION: "eu-west-1" } }),
    /invalid Lambda configuration: CLUSTER is not set/,
  );
  // With good configuration it builds its own clients without touching the network.
  const handler = createLifecycleLambda("wake", { env: ENV, logger: silentLogger() });
  assert.equal(typeof handler, "function");
});

Deno.test("query Lambda through the runtime loop: fixture event in, proxy response posted", async () => {
  const fake = startFakeRuntimeApi();
  const credentials = { accessKeyId: "AKIDTEST", secretAccessKey: "test" };
  const clients = {
    ecs: new ECSClient({ region: "eu-west-1", credentials }),
    ec2: new EC2Client({ region: "eu-west-1", credentials }),
    cloudwatch: new CloudWatchClient({ region: "eu-west-1", credentials }),
  };
  const ecs = mockClient(clients.ecs);
  try {
    ecs.on(DescribeServicesCommand).resolves(service(1, 0));
    ecs.on(ListTasksCommand).resolves({ taskArns: [] });
    fake.enqueue({ event: await fixture("apigw_query.json"), requestId: "rt-1" });
    await runRuntime({
      api: fake.api,
      init: () => createLifecycleLambda("query", { env: ENV, clients, logger: silentLogger() }),
      maxInvocations: 1,
      log: () => {},
    });
    const [outcome] = fake.outcomes;
    assert.equal(outcome!.kind, "response");
    assert.equal(outcome!.requestId, "rt-1");
    const res = parse(outcome!.body);
    assert.deepEqual(res, {
      statusCode: 200,
      body: { status: "starting", publicIp: null, port: 8443 },
    });
  } finally {
    ecs.restore();
    await fake.close();
  }
});
