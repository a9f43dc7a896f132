/**
 * Test helper: an in-memory AWS account behind `aws-sdk-client-mock`ed
 * clients, with enough behaviour for the deploy manager: CloudFormation stacks
 * that move through their states one DescribeStacks poll at a time (emitting
 * stack events, paged newest first), Secrets Manager versions and stages, S3
 * buckets and objects, STS, EC2, ECS, CloudWatch and API Gateway answers. A
 * fake clock drives timestamps; `sleep` advances it.
 */
import { type AwsStub, mockClient } from "aws-sdk-client-mock";
import { APIGatewayClient, GetApiKeyCommand } from "@aws-sdk/client-api-gateway";
import {
  CloudFormationClient,
  CreateStackCommand,
  DeleteStackCommand,
  DescribeStackEventsCommand,
  DescribeStacksCommand,
  type Stack,
  type StackEvent,
  UpdateStackCommand,
} from "@aws-sdk/client-cloudformation";
import { CloudWatchClient, GetMetricDataCommand } from "@aws-sdk/client-cloudwatch";
import {
  DescribeNetworkInterfacesCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  EC2Client,
} from "@aws-sdk/client-ec2";
import {
  DescribeServicesCommand,
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
} from "@aws-sdk/client-ecs";
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  GetBucketTaggingCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutBucketTaggingCommand,
  PutObjectCommand,
  PutPublicAccessBlockCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  PutSecretValueCommand,
  RestoreSecretCommand,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import type { DeployClients } from "./clients.ts";

export const ACCOUNT = "123456789012";
export const REGION = "eu-west-1";
export const API_KEY_ID = "k3y1d";
/** The API key value the fake API Gateway hands out: must never appear in output. */
export const API_KEY_VALUE = "FAKE-api-key-value-0123456789abcdefghij";
export const PUBLIC_IP = "203.0.113.9";
const T0 = Date.UTC(2026, 10, 22, 3, 0, 0);

/** An AWS-style error. */
export function awsErr(name: string, message: string, status = 400): Error {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });
}

interface Step {
  events: Array<{ id: string; type: string; status: string; reason?: string }>;
  status: string;
  reason?: string;
}

interface FakeStack {
  id: string;
  name: string;
  status: string;
  reason?: string;
  params: Record<string, string>;
  template: string;
  outputs: Record<string, string>;
  events: StackEvent[]; // newest first
  steps: Step[];
  created: Date;
  updated?: Date;
}

export interface StackFailure {
  /** Logical id of the resource that fails. */
  resource: string;
  reason: string;
}

/** Resources of a template: `  Name:` followed (within the block) by `    Type: AWS::…`. */
export function templateResources(template: string): Array<{ id: string; type: string }> {
  const out: Array<{ id: string; type: string }> = [];
  const body = template.split(/^Resources:\s*$/m)[1]?.split(/^Outputs:\s*$/m)[0] ?? "";
  let current: string | null = null;
  for (const line of body.split("\n")) {
    const name = /^ {2}([A-Za-z0-9]+):\s*$/.exec(line);
    if (name) current = name[1]!;
    const type = /^ {4}Type: (AWS::\S+)/.exec(line);
    if (type && current) {
      out.push({ id: current, type: type[1]! });
      current = null;
    }
  }
  return out;
}

function outputsFor(
  template: string,
  params: Record<string, string>,
  stackName: string,
): Record<string, string> {
  if (template.includes("AWS::ECS::Cluster")) {
    return {
      ClusterName: params["ClusterName"] ?? "fluidity",
      ServiceName: params["ServiceName"] ?? "fluidity-server",
      ServiceArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:service/${params["ClusterName"]}/${
        params["ServiceName"]
      }`,
      TunnelPort: params["TunnelPort"] ?? "8443",
      LogGroupName: `/ecs/${params["ClusterName"]}/${params["ServiceName"]}`,
      SecurityGroupId: "sg-0123456789abcdef0",
    };
  }
  return {
    ApiUrl: `https://a1b2c3d4e5.execute-api.${REGION}.amazonaws.com/prod`,
    ApiKeyId: API_KEY_ID,
    ClusterName: params["ClusterName"] ?? "",
    ServiceName: params["ServiceName"] ?? "",
    LayerArn: `arn:aws:lambda:${REGION}:${ACCOUNT}:layer:${stackName}-deno:1`,
  };
}

export interface FakeAwsOptions {
  /** GetCallerIdentity fails with this error (e.g. missing credentials). */
  stsError?: Error;
  /** Whether the account has a default VPC. Default true. */
  defaultVpc?: boolean;
}

export interface CallRecord {
  client: string;
  command: string;
  input: Record<string, unknown>;
}

/** An in-memory AWS account; `restore()` undoes the mocks. */
export class FakeAws {
  readonly clients: DeployClients;
  // deno-lint-ignore no-explicit-any
  readonly mocks: Record<string, AwsStub<any, any, any>>;
  now = T0;
  readonly stacks = new Map<string, FakeStack>();
  readonly deletedStacks = new Map<string, FakeStack>();
  readonly secrets = new Map<
    string,
    {
      arn: string;
      versions: Map<string, { value: string; stages: string[] }>;
      tags: Array<{ Key?: string; Value?: string }>;
      deletedDate?: Date;
    }
  >();
  readonly buckets = new Map<
    string,
    {
      objects: Map<string, { body: Uint8Array; metadata: Record<string, string> }>;
      tags: Array<{ Key?: string; Value?: string }> | null;
    }
  >();
  /** ECS service state for status. */
  service = { desiredCount: 0, runningCount: 0, pendingCount: 0 };
  lastActivityEpochSeconds: number | null = null;
  private failures = new Map<string, StackFailure>();
  private seq = 0;

  constructor(private opts: FakeAwsOptions = {}) {
    const cfg = {
      region: REGION,
      credentials: { accessKeyId: "AKIDFAKE", secretAccessKey: "fake" },
    };
    this.clients = {
      sts: new STSClient(cfg),
      cloudformation: new CloudFormationClient(cfg),
      s3: new S3Client(cfg),
      secrets: new SecretsManagerClient(cfg),
      apiGateway: new APIGatewayClient(cfg),
      ec2: new EC2Client(cfg),
      ecs: new ECSClient(cfg),
      cloudwatch: new CloudWatchClient(cfg),
    };
    // deno-lint-ignore no-explicit-any
    const m = (c: any) => mockClient(c);
    this.mocks = {
      sts: m(this.clients.sts),
      cloudformation: m(this.clients.cloudformation),
      s3: m(this.clients.s3),
      secrets: m(this.clients.secrets),
      apiGateway: m(this.clients.apiGateway),
      ec2: m(this.clients.ec2),
      ecs: m(this.clients.ecs),
      cloudwatch: m(this.clients.cloudwatch),
    };
    this.wireSts();
    this.wireCloudFormation();
    this.wireSecrets();
    this.wireS3();
    this.wireOthers();
  }

  /** Fake clock for the deploy run. */
  clock = () => this.now;
  /** Fake sleep: advances the clock. */
  sleep = (ms: number) => {
    this.now += ms;
    return Promise.resolve();
  };

  /** The next create or update of `stack` fails at `resource`. */
  failNext(stack: string, failure: StackFailure): void {
    this.failures.set(stack, failure);
  }

  /** Every SDK call so far, across all clients, in the order they were sent. */
  calls(): CallRecord[] {
    const all: Array<CallRecord & { callId: number }> = [];
    for (const [client, stub] of Object.entries(this.mocks)) {
      for (const call of stub.calls()) {
        const cmd = call.args[0] as {
          constructor: { name: string };
          input: Record<string, unknown>;
        };
        all.push({
          client,
          command: cmd.constructor.name.replace(/Command$/, ""),
          input: cmd.input,
          callId: (call as unknown as { callId: number }).callId,
        });
      }
    }
    return all.sort((a, b) => a.callId - b.callId).map(({ callId: _, ...r }) => r);
  }

  /** `client.Command` names in order, optionally only some clients. */
  sequence(filter?: (c: CallRecord) => boolean): string[] {
    return this.calls().filter(filter ?? (() => true)).map((c) => `${c.client}.${c.command}`);
  }

  resetHistory(): void {
    for (const stub of Object.values(this.mocks)) stub.resetHistory();
  }

  restore(): void {
    for (const stub of Object.values(this.mocks)) stub.restore();
    for (const c of Object.values(this.clients)) (c as { destroy(): void }).destroy();
  }

  [Symbol.dispose](): void {
    this.restore();
  }

  // --- STS
  private wireSts() {
    this.mocks.sts!.on(GetCallerIdentityCommand).callsFake(() => {
      if (this.opts.stsError) throw this.opts.stsError;
      return { Account: ACCOUNT, Arn: `arn:aws:iam::${ACCOUNT}:user/dev`, UserId: "AIDAFAKE" };
    });
  }

  // --- CloudFormation
  private event(
    s: FakeStack,
    e: { id: string; type: string; status: string; reason?: string },
  ): void {
    s.events.unshift({
      EventId: `${s.name}-${++this.seq}`,
      StackId: s.id,
      StackName: s.name,
      LogicalResourceId: e.id,
      ResourceType: e.type,
      ResourceStatus: e.status as StackEvent["ResourceStatus"],
      ResourceStatusReason: e.reason,
      Timestamp: new Date(this.now),
    });
  }

  private stackEvent(s: FakeStack, status: string, reason?: string) {
    return { id: s.name, type: "AWS::CloudFormation::Stack", status, reason };
  }

  private plan(s: FakeStack, op: "CREATE" | "UPDATE"): Step[] {
    const resources = templateResources(s.template);
    const failure = this.failures.get(s.name);
    this.failures.delete(s.name);
    const steps: Step[] = [];
    const chosen = op === "CREATE" ? resources : resources.slice(0, 2);
    const done: typeof resources = [];
    for (const r of chosen) {
      if (failure?.resource === r.id) {
        const rollback = op === "CREATE" ? "ROLLBACK" : "UPDATE_ROLLBACK";
        steps.push({
          events: [
            { ...r, status: `${op}_IN_PROGRESS` },
            { ...r, status: `${op}_FAILED`, reason: failure.reason },
            ...(op === "CREATE"
              ? [{
                id: "Other",
                type: "AWS::Logs::LogGroup",
                status: "CREATE_FAILED",
                reason: "Resource creation cancelled",
              }]
              : []),
            this.stackEvent(
              s,
              `${rollback}_IN_PROGRESS`,
              `The following resource(s) failed to ${op.toLowerCase()}: [${r.id}]. Rollback requested by user.`,
            ),
          ],
          status: `${rollback}_IN_PROGRESS`,
        });
        steps.push({
          events: [
            ...done.reverse().map((d) => ({
              ...d,
              status: op === "CREATE" ? "DELETE_COMPLETE" : "UPDATE_COMPLETE",
            })),
            this.stackEvent(s, `${rollback}_COMPLETE`),
          ],
          status: `${rollback}_COMPLETE`,
        });
        return steps;
      }
      steps.push({
        events: [{ ...r, status: `${op}_IN_PROGRESS` }, { ...r, status: `${op}_COMPLETE` }],
        status: `${op}_IN_PROGRESS`,
      });
      done.push(r);
    }
    if (op === "UPDATE") {
      steps.push({
        events: [this.stackEvent(s, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")],
        status: "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
      });
    }
    steps.push({ events: [this.stackEvent(s, `${op}_COMPLETE`)], status: `${op}_COMPLETE` });
    return steps;
  }

  private advance(s: FakeStack): void {
    const step = s.steps.shift();
    if (!step) return;
    this.now += 1000;
    for (const e of step.events) this.event(s, e);
    s.status = step.status;
    if (s.status === "DELETE_COMPLETE") {
      this.stacks.delete(s.name);
      this.deletedStacks.set(s.id, s);
    }
  }

  private find(nameOrId: string): FakeStack | undefined {
    return this.stacks.get(nameOrId) ??
      [...this.stacks.values()].find((s) => s.id === nameOrId) ??
      this.deletedStacks.get(nameOrId);
  }

  private notExist(nameOrId: string): Error {
    return awsErr("ValidationError", `Stack with id ${nameOrId} does not exist`);
  }

  private view(s: FakeStack): Stack {
    return {
      StackId: s.id,
      StackName: s.name,
      StackStatus: s.status as Stack["StackStatus"],
      StackStatusReason: s.reason,
      CreationTime: s.created,
      LastUpdatedTime: s.updated,
      Parameters: Object.entries(s.params).map(([k, v]) => ({
        ParameterKey: k,
        ParameterValue: v,
      })),
      Outputs: /_COMPLETE$/.test(s.status) && !/ROLLBACK|DELETE/.test(s.status)
        ? Object.entries(s.outputs).map(([k, v]) => ({ OutputKey: k, OutputValue: v }))
        : undefined,
    };
  }

  /** Puts a stack straight into a state (for tests that start from an existing deployment). */
  seedStack(name: string, template: string, params: Record<string, string>, status: string) {
    const s: FakeStack = {
      id: `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/${name}/${++this.seq}`,
      name,
      status,
      params,
      template,
      outputs: outputsFor(template, params, name),
      events: [],
      steps: [],
      created: new Date(this.now),
    };
    this.event(s, this.stackEvent(s, status));
    this.stacks.set(name, s);
    return s;
  }

  private wireCloudFormation() {
    const cfn = this.mocks.cloudformation!;
    cfn.on(DescribeStacksCommand).callsFake((input: { StackName: string }) => {
      const s = this.find(input.StackName);
      if (!s || (s.status === "DELETE_COMPLETE" && !input.StackName.startsWith("arn:"))) {
        throw this.notExist(input.StackName);
      }
      this.advance(s);
      return { Stacks: [this.view(s)] };
    });
    cfn.on(DescribeStackEventsCommand).callsFake(
      (input: { StackName: string; NextToken?: string }) => {
        const s = this.find(input.StackName);
        if (!s) throw this.notExist(input.StackName);
        const start = Number(input.NextToken ?? "0");
        const page = s.events.slice(start, start + 5);
        const next = start + 5 < s.events.length ? String(start + 5) : undefined;
        return { StackEvents: page, NextToken: next };
      },
    );
    cfn.on(CreateStackCommand).callsFake(
      (input: {
        StackName: string;
        TemplateBody: string;
        Parameters: Array<{ ParameterKey: string; ParameterValue: string }>;
      }) => {
        if (this.stacks.has(input.StackName)) {
          throw awsErr("AlreadyExistsException", `Stack [${input.StackName}] already exists`);
        }
        const params = Object.fromEntries(
          input.Parameters.map((p) => [p.ParameterKey, p.ParameterValue]),
        );
        const s: FakeStack = {
          id: `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/${input.StackName}/${++this
            .seq}`,
          name: input.StackName,
          status: "CREATE_IN_PROGRESS",
          params,
          template: input.TemplateBody,
          outputs: outputsFor(input.TemplateBody, params, input.StackName),
          events: [],
          steps: [],
          created: new Date(this.now),
        };
        this.event(s, this.stackEvent(s, "CREATE_IN_PROGRESS", "User Initiated"));
        s.steps = this.plan(s, "CREATE");
        this.stacks.set(s.name, s);
        return { StackId: s.id };
      },
    );
    cfn.on(UpdateStackCommand).callsFake(
      (input: {
        StackName: string;
        TemplateBody: string;
        Parameters: Array<{ ParameterKey: string; ParameterValue: string }>;
      }) => {
        const s = this.find(input.StackName);
        if (!s || s.status === "DELETE_COMPLETE") throw this.notExist(input.StackName);
        if (/_IN_PROGRESS$/.test(s.status)) {
          throw awsErr(
            "ValidationError",
            `Stack:${s.id} is in ${s.status} state and can not be updated.`,
          );
        }
        const params = Object.fromEntries(
          input.Parameters.map((p) => [p.ParameterKey, p.ParameterValue]),
        );
        if (
          input.TemplateBody === s.template && JSON.stringify(params) === JSON.stringify(s.params)
        ) {
          throw awsErr("ValidationError", "No updates are to be performed.");
        }
        s.params = params;
        s.template = input.TemplateBody;
        s.outputs = outputsFor(input.TemplateBody, params, s.name);
        s.updated = new Date(this.now);
        s.status = "UPDATE_IN_PROGRESS";
        this.event(s, this.stackEvent(s, "UPDATE_IN_PROGRESS", "User Initiated"));
        s.steps = this.plan(s, "UPDATE");
        return { StackId: s.id };
      },
    );
    cfn.on(DeleteStackCommand).callsFake((input: { StackName: string }) => {
      const s = this.find(input.StackName);
      if (!s || s.status === "DELETE_COMPLETE") return {};
      s.status = "DELETE_IN_PROGRESS";
      this.event(s, this.stackEvent(s, "DELETE_IN_PROGRESS", "User Initiated"));
      const resources = templateResources(s.template).reverse();
      s.steps = [
        {
          events: resources.map((r) => ({ ...r, status: "DELETE_COMPLETE" })),
          status: "DELETE_IN_PROGRESS",
        },
        { events: [this.stackEvent(s, "DELETE_COMPLETE")], status: "DELETE_COMPLETE" },
      ];
      return {};
    });
  }

  // --- Secrets Manager
  private wireSecrets() {
    const sm = this.mocks.secrets!;
    const get = (id: string) =>
      this.secrets.get(id) ?? [...this.secrets.values()].find((s) => s.arn === id);
    const notFound = () =>
      awsErr("ResourceNotFoundException", "Secrets Manager can't find the specified secret.");
    sm.on(DescribeSecretCommand).callsFake((input: { SecretId: string }) => {
      const s = get(input.SecretId);
      if (!s) throw notFound();
      const name = [...this.secrets.entries()].find(([, v]) => v === s)![0];
      return {
        ARN: s.arn,
        Name: name,
        Tags: s.tags,
        DeletedDate: s.deletedDate,
        VersionIdsToStages: Object.fromEntries(
          [...s.versions].filter(([, v]) => v.stages.length > 0).map(([id, v]) => [id, v.stages]),
        ),
      };
    });
    sm.on(CreateSecretCommand).callsFake(
      (input: {
        Name: string;
        SecretString: string;
        ClientRequestToken: string;
        Tags?: Array<{ Key?: string; Value?: string }>;
      }) => {
        if (this.secrets.has(input.Name)) {
          throw awsErr("ResourceExistsException", `The secret ${input.Name} already exists.`);
        }
        const arn = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${input.Name}-${
          String(++this.seq).padStart(6, "x")
        }`;
        this.secrets.set(input.Name, {
          arn,
          versions: new Map([[input.ClientRequestToken, {
            value: input.SecretString,
            stages: ["AWSCURRENT"],
          }]]),
          tags: input.Tags ?? [],
        });
        return { ARN: arn, Name: input.Name, VersionId: input.ClientRequestToken };
      },
    );
    sm.on(PutSecretValueCommand).callsFake(
      (input: { SecretId: string; SecretString: string; ClientRequestToken: string }) => {
        const s = get(input.SecretId);
        if (!s) throw notFound();
        if (s.deletedDate) {
          throw awsErr(
            "InvalidRequestException",
            "You can't perform this operation on the secret because it was marked for deletion.",
          );
        }
        for (const v of s.versions.values()) {
          v.stages = v.stages.includes("AWSCURRENT") ? ["AWSPREVIOUS"] : [];
        }
        s.versions.set(input.ClientRequestToken, {
          value: input.SecretString,
          stages: ["AWSCURRENT"],
        });
        return { ARN: s.arn, VersionId: input.ClientRequestToken };
      },
    );
    sm.on(RestoreSecretCommand).callsFake((input: { SecretId: string }) => {
      const s = get(input.SecretId);
      if (!s) throw notFound();
      s.deletedDate = undefined;
      return { ARN: s.arn };
    });
    sm.on(DeleteSecretCommand).callsFake((input: { SecretId: string }) => {
      const s = get(input.SecretId);
      if (!s) throw notFound();
      s.deletedDate = new Date(this.now);
      return { ARN: s.arn, DeletionDate: new Date(this.now + 7 * 86_400_000) };
    });
  }

  /** The AWSCURRENT value of a secret (tests check what was stored). */
  secretValue(name: string): string | undefined {
    const s = this.secrets.get(name);
    return [...(s?.versions.values() ?? [])].find((v) => v.stages.includes("AWSCURRENT"))?.value;
  }

  // --- S3
  private wireS3() {
    const s3 = this.mocks.s3!;
    const noBucket = () => awsErr("NotFound", "NotFound", 404);
    s3.on(HeadBucketCommand).callsFake((input: { Bucket: string }) => {
      if (!this.buckets.has(input.Bucket)) throw noBucket();
      return {};
    });
    s3.on(CreateBucketCommand).callsFake((input: { Bucket: string }) => {
      if (this.buckets.has(input.Bucket)) {
        throw awsErr("BucketAlreadyOwnedByYou", "Your previous request succeeded", 409);
      }
      this.buckets.set(input.Bucket, { objects: new Map(), tags: null });
      return { Location: `/${input.Bucket}` };
    });
    s3.on(PutPublicAccessBlockCommand).resolves({});
    s3.on(PutBucketTaggingCommand).callsFake(
      (input: { Bucket: string; Tagging: { TagSet: Array<{ Key?: string; Value?: string }> } }) => {
        const b = this.buckets.get(input.Bucket);
        if (!b) throw awsErr("NoSuchBucket", "The specified bucket does not exist", 404);
        b.tags = input.Tagging.TagSet;
        return {};
      },
    );
    s3.on(GetBucketTaggingCommand).callsFake((input: { Bucket: string }) => {
      const b = this.buckets.get(input.Bucket);
      if (!b) throw awsErr("NoSuchBucket", "The specified bucket does not exist", 404);
      if (!b.tags) throw awsErr("NoSuchTagSet", "The TagSet does not exist", 404);
      return { TagSet: b.tags };
    });
    s3.on(HeadObjectCommand).callsFake((input: { Bucket: string; Key: string }) => {
      const o = this.buckets.get(input.Bucket)?.objects.get(input.Key);
      if (!o) throw awsErr("NotFound", "NotFound", 404);
      return { ContentLength: o.body.length, Metadata: o.metadata };
    });
    s3.on(PutObjectCommand).callsFake(
      (
        input: { Bucket: string; Key: string; Body: Uint8Array; Metadata?: Record<string, string> },
      ) => {
        const b = this.buckets.get(input.Bucket);
        if (!b) throw awsErr("NoSuchBucket", "The specified bucket does not exist", 404);
        b.objects.set(input.Key, { body: input.Body, metadata: input.Metadata ?? {} });
        return { ETag: '"etag"' };
      },
    );
    s3.on(ListObjectsV2Command).callsFake(
      (input: { Bucket: string; Prefix?: string; MaxKeys?: number }) => {
        const b = this.buckets.get(input.Bucket);
        if (!b) throw awsErr("NoSuchBucket", "The specified bucket does not exist", 404);
        const keys = [...b.objects.keys()].filter((k) => k.startsWith(input.Prefix ?? "")).sort()
          .slice(0, input.MaxKeys ?? 1000);
        return {
          Contents: keys.map((Key) => ({ Key })),
          KeyCount: keys.length,
          IsTruncated: false,
        };
      },
    );
    s3.on(DeleteObjectsCommand).callsFake(
      (input: { Bucket: string; Delete: { Objects: Array<{ Key: string }> } }) => {
        const b = this.buckets.get(input.Bucket)!;
        for (const o of input.Delete.Objects) b.objects.delete(o.Key);
        return { Deleted: input.Delete.Objects };
      },
    );
    s3.on(DeleteBucketCommand).callsFake((input: { Bucket: string }) => {
      const b = this.buckets.get(input.Bucket);
      if (!b) throw awsErr("NoSuchBucket", "The specified bucket does not exist", 404);
      if (b.objects.size > 0) throw awsErr("BucketNotEmpty", "The bucket is not empty", 409);
      this.buckets.delete(input.Bucket);
      return {};
    });
  }

  // --- EC2, ECS, CloudWatch, API Gateway
  private wireOthers() {
    this.mocks.ec2!.on(DescribeVpcsCommand).callsFake(() => ({
      Vpcs: this.opts.defaultVpc === false ? [] : [{ VpcId: "vpc-0def", IsDefault: true }],
    }));
    this.mocks.ec2!.on(DescribeSubnetsCommand).resolves({
      Subnets: [{ SubnetId: "subnet-0bbb" }, { SubnetId: "subnet-0aaa" }],
    });
    this.mocks.ec2!.on(DescribeNetworkInterfacesCommand).resolves({
      NetworkInterfaces: [{ Association: { PublicIp: PUBLIC_IP } }],
    });
    this.mocks.ecs!.on(DescribeServicesCommand).callsFake(
      (input: { services: string[] }) => ({
        services: [{ serviceName: input.services[0], status: "ACTIVE", ...this.service }],
      }),
    );
    this.mocks.ecs!.on(ListTasksCommand).callsFake(() => ({
      taskArns: this.service.runningCount > 0
        ? [`arn:aws:ecs:${REGION}:${ACCOUNT}:task/fluidity/t1`]
        : [],
    }));
    this.mocks.ecs!.on(DescribeTasksCommand).callsFake(() => ({
      tasks: [{
        taskArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:task/fluidity/t1`,
        lastStatus: "RUNNING",
        startedAt: new Date(this.now - 600_000),
        attachments: [{
          type: "ElasticNetworkInterface",
          details: [{ name: "networkInterfaceId", value: "eni-0abc" }],
        }],
      }],
    }));
    this.mocks.cloudwatch!.on(GetMetricDataCommand).callsFake(() => ({
      MetricDataResults: this.lastActivityEpochSeconds === null ? [] : [
        { Id: "active", Values: [0], Timestamps: [new Date(this.now - 60_000)] },
        {
          Id: "last",
          Values: [this.lastActivityEpochSeconds],
          Timestamps: [new Date(this.now - 60_000)],
        },
      ],
    }));
    this.mocks.apiGateway!.on(GetApiKeyCommand).callsFake(
      (input: { apiKey: string; includeValue?: boolean }) => {
        if (input.apiKey !== API_KEY_ID) {
          throw awsErr("NotFoundException", "Invalid API Key identifier specified", 404);
        }
        return {
          id: API_KEY_ID,
          enabled: true,
          value: input.includeValue ? API_KEY_VALUE : undefined,
        };
      },
    );
  }
}
