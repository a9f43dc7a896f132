import assert from "node:assert/strict";
import { mockClient } from "aws-sdk-client-mock";
import { CloudWatchClient, PutMetricDataCommand } from "@aws-sdk/client-cloudwatch";
import { startCloudWatchEmitter } from "./cloudwatch_emitter.ts";
import { memoryLogger } from "../log/logger.ts";

function setup() {
  const client = new CloudWatchClient({
    region: "us-east-1",
    credentials: { accessKeyId: "AKIDTEST", secretAccessKey: "x" },
  });
  const mock = mockClient(client);
  const intervals: Array<{ fn: () => void; ms: number }> = [];
  const cleared: unknown[] = [];
  const fakeSet = ((fn: () => void, ms: number) => {
    intervals.push({ fn, ms });
    return intervals.length;
  }) as unknown as typeof setInterval;
  const fakeClear = ((id: unknown) => cleared.push(id)) as typeof clearInterval;
  const counters = { activeConnections: 3, lastActivityEpochSeconds: 1_790_000_000 };
  const logger = memoryLogger();
  const emitter = startCloudWatchEmitter({
    read: () => ({ ...counters }),
    intervalMs: 60_000,
    client,
    logger,
    setInterval: fakeSet,
    clearInterval: fakeClear,
  });
  return {
    client,
    mock,
    intervals,
    cleared,
    counters,
    logger,
    emitter,
    [Symbol.dispose]() {
      emitter.close();
      mock.restore();
      client.destroy();
    },
  };
}

Deno.test("startCloudWatchEmitter() puts ActiveConnections and LastActivityEpochSeconds", async () => {
  using s = setup();
  s.mock.on(PutMetricDataCommand).resolves({});
  assert.equal(s.intervals.length, 1);
  assert.equal(s.intervals[0]!.ms, 60_000);
  await s.emitter.tick();
  const calls = s.mock.commandCalls(PutMetricDataCommand);
  assert.equal(calls.length, 1);
  const input = calls[0]!.args[0].input;
  assert.equal(input.Namespace, "Fluidity");
  const data = input.MetricData!;
  assert.equal(data.length, 2);
  assert.deepEqual(
    data.map((d) => [d.MetricName, d.Unit, d.Value, d.Dimensions]),
    [
      ["ActiveConnections", "Count", 3, [{ Name: "Service", Value: "fluidity-server" }]],
      [
        "LastActivityEpochSeconds",
        "Seconds",
        1_790_000_000,
        [{ Name: "Service", Value: "fluidity-server" }],
      ],
    ],
  );
});

Deno.test("startCloudWatchEmitter() reads fresh counters on every interval tick", async () => {
  using s = setup();
  s.mock.on(PutMetricDataCommand).resolves({});
  s.intervals[0]!.fn();
  await s.emitter.tick(); // joins the in-flight emit
  s.counters.activeConnections = 0;
  s.counters.lastActivityEpochSeconds = 1_790_000_100;
  s.intervals[0]!.fn();
  await s.emitter.tick();
  const values = s.mock.commandCalls(PutMetricDataCommand).map((c) =>
    c.args[0].input.MetricData!.map((d) => d.Value)
  );
  assert.deepEqual(values, [[3, 1_790_000_000], [0, 1_790_000_100]]);
});

Deno.test("startCloudWatchEmitter() logs a failed emit, never throws, and retries next tick", async () => {
  using s = setup();
  s.mock.on(PutMetricDataCommand)
    .rejectsOnce(Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" }))
    .resolves({});
  await s.emitter.tick();
  assert.match(s.logger.lines.join("\n"), /emit failed; retrying next interval.*Rate exceeded/);
  await s.emitter.tick();
  assert.equal(s.mock.commandCalls(PutMetricDataCommand).length, 2);
  assert.match(s.logger.lines.at(-1)!, /recovered/);
});

Deno.test("startCloudWatchEmitter() close() stops the schedule and later ticks do nothing", async () => {
  using s = setup();
  s.mock.on(PutMetricDataCommand).resolves({});
  s.emitter.close();
  assert.deepEqual(s.cleared, [1]);
  await s.emitter.tick();
  assert.equal(s.mock.commandCalls(PutMetricDataCommand).length, 0);
  s.emitter.close(); // idempotent
  assert.equal(s.cleared.length, 1);
});
