import assert from "node:assert/strict";
import type { StackEvent } from "@aws-sdk/client-cloudformation";
import { FakeAws } from "./_fake_aws.ts";
import { deployRun } from "./run.ts";
import { deleteStack, deployStack, failureReason, StackFailedError } from "./stacks.ts";

const TEMPLATE = [
  "Resources:",
  "  Bucket:",
  "    Type: AWS::S3::Bucket",
  "  Queue:",
  "    Type: AWS::SQS::Queue",
  "  Topic:",
  "    Type: AWS::SNS::Topic",
  "  Table:",
  "    Type: AWS::DynamoDB::Table",
  "Outputs:",
  "  X:",
  "    Value: 1",
].join("\n");

function setup(aws: FakeAws, waitTimeoutMs = 3_600_000) {
  const lines: string[] = [];
  const run = deployRun({
    clients: aws.clients,
    out: (l) => lines.push(l),
    now: aws.clock,
    sleep: aws.sleep,
    pollIntervalMs: 5000,
  }, waitTimeoutMs);
  return { run, lines };
}

function ev(id: string, type: string, status: string, reason?: string): StackEvent {
  return {
    LogicalResourceId: id,
    ResourceType: type,
    ResourceStatus: status as StackEvent["ResourceStatus"],
    ResourceStatusReason: reason,
    StackId: "s",
    StackName: "s",
    EventId: id + status,
    Timestamp: new Date(0),
  };
}

Deno.test("failureReason() names the first resource that failed, not the cancellations", () => {
  const events = [
    ev("s", "AWS::CloudFormation::Stack", "CREATE_IN_PROGRESS", "User Initiated"),
    ev("Role", "AWS::IAM::Role", "CREATE_FAILED", "Resource creation cancelled"),
    ev("Service", "AWS::ECS::Service", "CREATE_FAILED", "Image not found"),
    ev("Other", "AWS::ECS::Cluster", "CREATE_FAILED", "Something later"),
    ev("s", "AWS::CloudFormation::Stack", "ROLLBACK_IN_PROGRESS", "The following failed"),
  ];
  assert.equal(
    failureReason(events, null),
    "Service (AWS::ECS::Service) CREATE_FAILED: Image not found",
  );
  assert.equal(
    failureReason([], { StackName: "s", StackStatusReason: "Stack-level reason" } as never),
    "Stack-level reason",
  );
  assert.equal(failureReason([], null), "no failure reason in the stack events");
});

Deno.test("deployStack() prints every event exactly once, oldest first, across event pages", async () => {
  using aws = new FakeAws();
  const { run, lines } = setup(aws);
  const r = await deployStack(run, { name: "s1", templateBody: TEMPLATE, parameters: {} });
  assert.equal(r.action, "created");
  const printed = lines.filter((l) => /^\s+\[/.test(l));
  const fake = aws.stacks.get("s1")!;
  assert.equal(printed.length, fake.events.length, lines.join("\n"));
  assert.equal(new Set(printed).size, printed.length);
  assert.match(printed[0]!, /CREATE_IN_PROGRESS s1 \(stack\): User Initiated/);
  assert.match(printed.at(-1)!, /CREATE_COMPLETE s1 \(stack\)/);
  const order = printed.map((l) => /(Bucket|Queue|Topic|Table)/.exec(l)?.[1]).filter(Boolean);
  assert.deepEqual([...new Set(order)], ["Bucket", "Queue", "Topic", "Table"]);
});

Deno.test("deployStack() waits out an operation already in progress, then updates", async () => {
  using aws = new FakeAws();
  const { run, lines } = setup(aws);
  const s = aws.seedStack("s2", TEMPLATE, { A: "1" }, "UPDATE_IN_PROGRESS");
  s.steps = [
    { events: [], status: "UPDATE_IN_PROGRESS" },
    {
      events: [{ id: "s2", type: "AWS::CloudFormation::Stack", status: "UPDATE_COMPLETE" }],
      status: "UPDATE_COMPLETE",
    },
  ];
  const r = await deployStack(run, { name: "s2", templateBody: TEMPLATE, parameters: { A: "2" } });
  assert.equal(r.action, "updated");
  assert.match(
    lines.join("\n"),
    /stack s2: UPDATE_IN_PROGRESS; waiting for that operation to finish/,
  );
  const cfn = aws.sequence((c) => c.client === "cloudformation" && c.command.endsWith("Stack"));
  assert.deepEqual(cfn, ["cloudformation.UpdateStack"]);
});

Deno.test("deployStack() refuses a stack that needs a human (UPDATE_ROLLBACK_FAILED)", async () => {
  using aws = new FakeAws();
  const { run } = setup(aws);
  aws.seedStack("s3", TEMPLATE, {}, "UPDATE_ROLLBACK_FAILED");
  await assert.rejects(
    deployStack(run, { name: "s3", templateBody: TEMPLATE, parameters: {} }),
    (e) => e instanceof StackFailedError && /UPDATE_ROLLBACK_FAILED/.test(e.message),
  );
  assert.ok(!aws.sequence().includes("cloudformation.UpdateStack"));
});

Deno.test("a stack wait gives up after wait_timeout, with heartbeat lines meanwhile", async () => {
  using aws = new FakeAws();
  const { run, lines } = setup(aws, 5 * 60_000);
  // An operation that never finishes and emits no events.
  const stuck = aws.seedStack("s5", TEMPLATE, {}, "CREATE_IN_PROGRESS");
  stuck.steps = Array.from({ length: 1000 }, () => ({ events: [], status: "CREATE_IN_PROGRESS" }));
  await assert.rejects(
    deleteStack(run, "s5"),
    /stack s5: still CREATE_IN_PROGRESS after 5m\d\ds \(wait_timeout\)/,
  );
  const beats = lines.filter((l) => /\] s5: still CREATE_IN_PROGRESS/.test(l));
  assert.ok(beats.length >= 4 && beats.length <= 6, lines.join("\n"));
  assert.ok(!aws.sequence().includes("cloudformation.DeleteStack"), "never deleted mid-create");
});

Deno.test("deleteStack() of a missing stack reports it and succeeds", async () => {
  using aws = new FakeAws();
  const { run, lines } = setup(aws);
  assert.equal(await deleteStack(run, "nope"), false);
  assert.match(lines.join("\n"), /stack nope: not found, nothing to delete/);
});

Deno.test("a stack wait stops when the signal aborts", async () => {
  using aws = new FakeAws();
  const controller = new AbortController();
  const run = deployRun({
    clients: aws.clients,
    out: () => {},
    now: aws.clock,
    sleep: (_ms, signal) => {
      controller.abort(new Error("received SIGINT"));
      return signal?.aborted ? Promise.reject(signal.reason) : Promise.resolve();
    },
    signal: controller.signal,
  }, 3_600_000);
  await assert.rejects(
    deployStack(run, { name: "s6", templateBody: TEMPLATE, parameters: {} }),
    /received SIGINT/,
  );
});
