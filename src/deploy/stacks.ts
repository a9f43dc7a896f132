/**
 * CloudFormation: create or update a stack and watch it to the end, printing
 * each new stack event with the elapsed time; delete a stack the same way.
 * A failed operation throws {@linkcode StackFailedError} with the reason of
 * the resource that failed first.
 */
import {
  CreateStackCommand,
  DeleteStackCommand,
  DescribeStackEventsCommand,
  DescribeStacksCommand,
  type Stack,
  type StackEvent,
  UpdateStackCommand,
} from "@aws-sdk/client-cloudformation";
import { awsError, awsErrorText, type DeployRun, elapsedTag, formatElapsed } from "./run.ts";

/** A stack operation ended in a state other than the one asked for. */
export class StackFailedError extends Error {
  override name = "StackFailedError";
  constructor(
    readonly stackName: string,
    readonly status: string,
    readonly reason: string,
  ) {
    super(`stack ${stackName} failed (${status}): ${reason}`);
  }
}

export interface StackSpec {
  name: string;
  templateBody: string;
  parameters: Record<string, string>;
  tags?: Record<string, string>;
}

export interface DeployedStack {
  stackId: string;
  status: string;
  outputs: Record<string, string>;
  /** `created`, `updated`, or `unchanged` ("No updates are to be performed"). */
  action: "created" | "updated" | "unchanged";
}

/** States a stack cannot be updated from: delete and create again. */
const RECREATE = new Set(["ROLLBACK_COMPLETE", "CREATE_FAILED"]);
/** States that need a human. */
const STUCK = new Set(["ROLLBACK_FAILED", "DELETE_FAILED", "UPDATE_ROLLBACK_FAILED"]);
/** Events printed at most this often without news: a heartbeat line. */
const HEARTBEAT_MS = 60_000;

/** DescribeStacks; null when the stack does not exist (or was deleted, by name). */
export async function describeStack(run: DeployRun, nameOrId: string): Promise<Stack | null> {
  try {
    const out = await run.clients.cloudformation.send(
      new DescribeStacksCommand({ StackName: nameOrId }),
    );
    return out.Stacks?.[0] ?? null;
  } catch (e) {
    const { name, message } = awsError(e);
    if (name === "ValidationError" && /does not exist/i.test(message)) return null;
    throw new Error(`CloudFormation DescribeStacks ${nameOrId}: ${awsErrorText(e)}`, { cause: e });
  }
}

/** The stack's outputs as a map. */
export function outputsOf(stack: Stack | null): Record<string, string> {
  const out: Record<string, string> = {};
  for (const o of stack?.Outputs ?? []) {
    if (o.OutputKey !== undefined && o.OutputValue !== undefined) out[o.OutputKey] = o.OutputValue;
  }
  return out;
}

function inProgress(status: string | undefined): boolean {
  return status?.endsWith("_IN_PROGRESS") ?? false;
}

/** Event ids already there, so a watch prints only what this run causes. */
async function currentEventIds(run: DeployRun, stackId: string): Promise<Set<string>> {
  const out = await run.clients.cloudformation.send(
    new DescribeStackEventsCommand({ StackName: stackId }),
  );
  return new Set((out.StackEvents ?? []).map((e) => e.EventId ?? ""));
}

/** Events not seen yet, oldest first (the API pages newest first). */
async function newEvents(
  run: DeployRun,
  stackId: string,
  seen: Set<string>,
): Promise<StackEvent[]> {
  const fresh: StackEvent[] = [];
  let token: string | undefined;
  for (let page = 0; page < 50; page++) {
    let out;
    try {
      out = await run.clients.cloudformation.send(
        new DescribeStackEventsCommand({ StackName: stackId, NextToken: token }),
      );
    } catch (e) {
      const { name, message } = awsError(e);
      if (name === "ValidationError" && /does not exist/i.test(message)) break;
      throw new Error(`CloudFormation DescribeStackEvents ${stackId}: ${awsErrorText(e)}`, {
        cause: e,
      });
    }
    let reachedSeen = false;
    for (const ev of out.StackEvents ?? []) {
      if (seen.has(ev.EventId ?? "")) {
        reachedSeen = true;
        break;
      }
      fresh.push(ev);
    }
    if (reachedSeen || !out.NextToken) break;
    token = out.NextToken;
  }
  for (const ev of fresh) seen.add(ev.EventId ?? "");
  return fresh.reverse();
}

function eventLine(ev: StackEvent, elapsedMs: number): string {
  const what = ev.ResourceType === "AWS::CloudFormation::Stack"
    ? `${ev.LogicalResourceId} (stack)`
    : `${ev.LogicalResourceId} (${ev.ResourceType})`;
  const reason = ev.ResourceStatusReason ? `: ${ev.ResourceStatusReason}` : "";
  return `  ${elapsedTag(elapsedMs)} ${ev.ResourceStatus} ${what}${reason}`;
}

/** The reason of the first resource that failed (cancellations are consequences, not causes). */
export function failureReason(events: readonly StackEvent[], stack: Stack | null): string {
  const failed = events.filter((e) => /_FAILED$/.test(e.ResourceStatus ?? ""));
  const cause =
    failed.find((e) =>
      e.ResourceType !== "AWS::CloudFormation::Stack" && e.ResourceStatusReason &&
      !/cancell?ed/i.test(e.ResourceStatusReason)
    ) ?? failed.find((e) => e.ResourceType !== "AWS::CloudFormation::Stack") ?? failed[0];
  if (cause) {
    return `${cause.LogicalResourceId} (${cause.ResourceType}) ${cause.ResourceStatus}: ${
      cause.ResourceStatusReason ?? "no reason given"
    }`;
  }
  return stack?.StackStatusReason ?? "no failure reason in the stack events";
}

interface WatchResult {
  stack: Stack | null;
  status: string;
  events: StackEvent[];
}

/** Polls until the stack leaves every `*_IN_PROGRESS` state, printing new events. */
async function watch(
  run: DeployRun,
  stackId: string,
  name: string,
  seen: Set<string>,
  startedAt: number,
): Promise<WatchResult> {
  const events: StackEvent[] = [];
  const deadline = startedAt + run.waitTimeoutMs;
  let lastNews = run.now();
  while (true) {
    const stack = await describeStack(run, stackId);
    const fresh = await newEvents(run, stackId, seen);
    for (const ev of fresh) run.out(eventLine(ev, run.now() - startedAt));
    events.push(...fresh);
    const status = stack?.StackStatus ?? "DELETE_COMPLETE";
    if (!inProgress(status)) return { stack, status, events };
    const now = run.now();
    if (fresh.length > 0) lastNews = now;
    else if (now - lastNews >= HEARTBEAT_MS) {
      run.out(`  ${elapsedTag(now - startedAt)} ${name}: still ${status}`);
      lastNews = now;
    }
    if (now >= deadline) {
      throw new Error(
        `stack ${name}: still ${status} after ${formatElapsed(now - startedAt)} ` +
          "(wait_timeout); the operation goes on in AWS: check the CloudFormation console",
      );
    }
    await run.sleep(run.pollIntervalMs, run.signal);
  }
}

function parameters(p: Record<string, string>) {
  return Object.entries(p).map(([ParameterKey, ParameterValue]) => ({
    ParameterKey,
    ParameterValue,
  }));
}

function tags(t: Record<string, string> = {}) {
  return Object.entries(t).map(([Key, Value]) => ({ Key, Value }));
}

/** Waits out an operation someone else started; returns the settled stack (null if deleted). */
async function settle(run: DeployRun, stack: Stack, name: string): Promise<Stack | null> {
  if (!inProgress(stack.StackStatus)) return stack;
  run.out(`stack ${name}: ${stack.StackStatus}; waiting for that operation to finish`);
  const id = stack.StackId!;
  const r = await watch(run, id, name, await currentEventIds(run, id), run.now());
  return r.status === "DELETE_COMPLETE" ? null : r.stack;
}

/**
 * Creates the stack, or updates it in place. "No updates are to be
 * performed" is success (`action: "unchanged"`). A stack left in
 * `ROLLBACK_COMPLETE` by a failed create is deleted and created again.
 */
export async function deployStack(run: DeployRun, spec: StackSpec): Promise<DeployedStack> {
  const cfn = run.clients.cloudformation;
  const { name } = spec;
  const startedAt = run.now();
  let stack = await describeStack(run, name);
  if (stack) stack = await settle(run, stack, name);
  if (stack && STUCK.has(stack.StackStatus ?? "")) {
    throw new StackFailedError(
      name,
      stack.StackStatus!,
      `${stack.StackStatusReason ?? "the stack needs attention"}; fix or delete it in the ` +
        "CloudFormation console, then run deploy up again",
    );
  }
  if (stack && RECREATE.has(stack.StackStatus ?? "")) {
    run.out(`stack ${name}: ${stack.StackStatus} from an earlier failed create; deleting it first`);
    await deleteStackById(run, stack.StackId!, name);
    stack = null;
  }
  const common = {
    StackName: name,
    TemplateBody: spec.templateBody,
    Parameters: parameters(spec.parameters),
    Capabilities: ["CAPABILITY_IAM" as const],
    Tags: tags(spec.tags),
  };
  if (!stack) {
    run.out(`stack ${name}: creating`);
    let stackId: string;
    try {
      const out = await cfn.send(new CreateStackCommand({ ...common, OnFailure: "ROLLBACK" }));
      stackId = out.StackId!;
    } catch (e) {
      throw new Error(`stack ${name}: CreateStack failed: ${awsErrorText(e)}`, { cause: e });
    }
    return await finish(run, stackId, name, new Set(), startedAt, "CREATE", "created");
  }
  const stackId = stack.StackId!;
  const seen = await currentEventIds(run, stackId);
  try {
    await cfn.send(new UpdateStackCommand({ ...common, StackName: stackId }));
  } catch (e) {
    const { name: errName, message } = awsError(e);
    if (errName === "ValidationError" && /No updates are to be performed/i.test(message)) {
      run.out(`stack ${name}: no changes (${stack.StackStatus})`);
      return {
        stackId,
        status: stack.StackStatus!,
        outputs: outputsOf(stack),
        action: "unchanged",
      };
    }
    throw new Error(`stack ${name}: UpdateStack failed: ${awsErrorText(e)}`, { cause: e });
  }
  run.out(`stack ${name}: updating`);
  return await finish(run, stackId, name, seen, startedAt, "UPDATE", "updated");
}

async function finish(
  run: DeployRun,
  stackId: string,
  name: string,
  seen: Set<string>,
  startedAt: number,
  op: "CREATE" | "UPDATE",
  action: "created" | "updated",
): Promise<DeployedStack> {
  const r = await watch(run, stackId, name, seen, startedAt);
  if (r.status !== `${op}_COMPLETE`) {
    throw new StackFailedError(name, r.status, failureReason(r.events, r.stack));
  }
  run.out(`stack ${name}: ${r.status} in ${formatElapsed(run.now() - startedAt)}`);
  return { stackId, status: r.status, outputs: outputsOf(r.stack), action };
}

async function deleteStackById(run: DeployRun, stackId: string, name: string): Promise<void> {
  const startedAt = run.now();
  const seen = await currentEventIds(run, stackId);
  try {
    await run.clients.cloudformation.send(new DeleteStackCommand({ StackName: stackId }));
  } catch (e) {
    throw new Error(`stack ${name}: DeleteStack failed: ${awsErrorText(e)}`, { cause: e });
  }
  const r = await watch(run, stackId, name, seen, startedAt);
  if (r.status !== "DELETE_COMPLETE") {
    throw new StackFailedError(name, r.status, failureReason(r.events, r.stack));
  }
  run.out(`stack ${name}: DELETE_COMPLETE in ${formatElapsed(run.now() - startedAt)}`);
}

/** Deletes the stack and waits; false when there was none. */
export async function deleteStack(run: DeployRun, name: string): Promise<boolean> {
  let stack = await describeStack(run, name);
  if (stack && stack.StackStatus !== "DELETE_IN_PROGRESS") stack = await settle(run, stack, name);
  if (!stack) {
    run.out(`stack ${name}: not found, nothing to delete`);
    return false;
  }
  run.out(`stack ${name}: deleting`);
  await deleteStackById(run, stack.StackId!, name);
  return true;
}
