/**
 * The `aws` provider: the server is an ECS service (Fargate, public IP) whose
 * desired count is 0 or 1. Public IP: ECS ListTasks/DescribeTasks → the task's
 * ENI → EC2 DescribeNetworkInterfaces. Activity: CloudWatch GetMetricData on
 * the metrics the server emits.
 *
 * Imports the AWS SDK: load this module only when the aws provider is used
 * (dynamic `import()` from anything the agent or server loads by default).
 */
import {
  DescribeServicesCommand,
  DescribeTasksCommand,
  type ECSClient,
  ListTasksCommand,
  type Task,
  UpdateServiceCommand,
} from "@aws-sdk/client-ecs";
import { DescribeNetworkInterfacesCommand, type EC2Client } from "@aws-sdk/client-ec2";
import { type CloudWatchClient, GetMetricDataCommand } from "@aws-sdk/client-cloudwatch";
import type { Logger } from "../log/logger.ts";
import {
  type Provider,
  ProviderError,
  type ProviderState,
  ProviderThrottledError,
  type ServerActivity,
  type ServerStatus,
} from "./types.ts";

export interface AwsProviderOptions {
  ecs: ECSClient;
  ec2: EC2Client;
  cloudwatch: CloudWatchClient;
  cluster: string;
  service: string;
  /** Port the server listens on (reported by `query`). Default 8443. */
  port?: number;
  /** CloudWatch namespace. Default `"Fluidity"`. */
  namespace?: string;
  /** Value of the `Service` dimension. Default `"fluidity-server"`. */
  serviceDimension?: string;
  /** How far back `activity()` looks for samples, in minutes. Default 60. */
  metricsLookbackMinutes?: number;
  /** Clock in epoch ms. Default `Date.now`. */
  now?: () => number;
  logger?: Logger;
}

const THROTTLE_NAMES = new Set([
  "ThrottlingException",
  "Throttling",
  "ThrottledException",
  "TooManyRequestsException",
  "RequestLimitExceeded",
  "RequestThrottled",
  "RequestThrottledException",
  "SlowDown",
]);

interface ServiceCounts {
  desiredCount: number;
  runningCount: number;
  pendingCount: number;
}

/** Creates the ECS-backed provider. The SDK clients are injected (tests use aws-sdk-client-mock). */
export function createAwsProvider(opts: AwsProviderOptions): Provider {
  const port = opts.port ?? 8443;
  const namespace = opts.namespace ?? "Fluidity";
  const dimension = opts.serviceDimension ?? "fluidity-server";
  const lookbackMs = (opts.metricsLookbackMinutes ?? 60) * 60_000;
  const now = opts.now ?? Date.now;
  const { cluster, service } = opts;
  const where = `ECS service "${service}" in cluster "${cluster}"`;

  async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw mapAwsError(e, `${what} for ${where}`);
    }
  }

  async function counts(): Promise<ServiceCounts> {
    const out = await call(
      "ECS DescribeServices",
      () => opts.ecs.send(new DescribeServicesCommand({ cluster, services: [service] })),
    );
    const svc = out.services?.find((s) => s.serviceName === service || s.serviceArn === service) ??
      out.services?.[0];
    if (!svc || svc.status === "INACTIVE") {
      const reason = out.failures?.[0]?.reason ?? (svc ? "INACTIVE" : "MISSING");
      throw new ProviderError(
        `${where} not found (${reason}): check the cluster and service names, or deploy the server stack`,
      );
    }
    return {
      desiredCount: svc.desiredCount ?? 0,
      runningCount: svc.runningCount ?? 0,
      pendingCount: svc.pendingCount ?? 0,
    };
  }

  /** The service's tasks that ECS wants running, newest first. */
  async function tasks(): Promise<Task[]> {
    const list = await call("ECS ListTasks", () =>
      opts.ecs.send(
        new ListTasksCommand({ cluster, serviceName: service, desiredStatus: "RUNNING" }),
      ));
    const arns = list.taskArns ?? [];
    if (arns.length === 0) return [];
    const desc = await call(
      "ECS DescribeTasks",
      () => opts.ecs.send(new DescribeTasksCommand({ cluster, tasks: arns })),
    );
    return [...(desc.tasks ?? [])].sort((a, b) => time(b.startedAt) - time(a.startedAt));
  }

  return {
    async describe(): Promise<ProviderState> {
      const c = await counts();
      let startedAt: number | null = null;
      if (c.runningCount > 0) {
        const running = (await tasks()).find((t) => t.lastStatus === "RUNNING" && t.startedAt);
        startedAt = running?.startedAt ? time(running.startedAt) : null;
      }
      return { ...c, startedAt };
    },

    async scale(desiredCount) {
      await call(
        "ECS UpdateService",
        () => opts.ecs.send(new UpdateServiceCommand({ cluster, service, desiredCount })),
      );
      opts.logger?.info("ECS service scaled", { cluster, service, desiredCount });
    },

    async locate() {
      const c = await counts();
      const stopped = { status: "stopped" as ServerStatus, publicIp: null, port };
      // A task still draining after kill is not a server to connect to.
      if (c.desiredCount === 0) return stopped;
      const starting = { status: "starting" as ServerStatus, publicIp: null, port };
      const running = (await tasks()).find((t) => t.lastStatus === "RUNNING");
      if (!running) return starting;
      const eniId = running.attachments
        ?.find((a) => a.type === "ElasticNetworkInterface")
        ?.details?.find((d) => d.name === "networkInterfaceId")?.value;
      if (!eniId) return starting;
      const out = await call(
        "EC2 DescribeNetworkInterfaces",
        () => opts.ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [eniId] })),
      );
      const publicIp = out.NetworkInterfaces?.[0]?.Association?.PublicIp;
      if (!publicIp) {
        opts.logger?.warn("running task's network interface has no public IP yet", {
          networkInterfaceId: eniId,
          hint: "the service needs assignPublicIp ENABLED in a public subnet",
        });
        return starting;
      }
      return { status: "running" as ServerStatus, publicIp, port };
    },

    async activity(): Promise<ServerActivity> {
      const end = now();
      const dims = [{ Name: "Service", Value: dimension }];
      const out = await call("CloudWatch GetMetricData", () =>
        opts.cloudwatch.send(
          new GetMetricDataCommand({
            StartTime: new Date(end - lookbackMs),
            EndTime: new Date(end),
            ScanBy: "TimestampDescending",
            MetricDataQueries: [
              {
                Id: "active",
                MetricStat: {
                  Metric: {
                    Namespace: namespace,
                    MetricName: "ActiveConnections",
                    Dimensions: dims,
                  },
                  Period: 60,
                  Stat: "Maximum",
                },
              },
              {
                Id: "last",
                MetricStat: {
                  Metric: {
                    Namespace: namespace,
                    MetricName: "LastActivityEpochSeconds",
                    Dimensions: dims,
                  },
                  Period: 60,
                  Stat: "Maximum",
                },
              },
            ],
          }),
        ));
      const results = out.MetricDataResults ?? [];
      const series = (id: string): number[] => {
        const r = results.find((x) => x.Id === id);
        if (!r?.Values?.length) return [];
        // Order by timestamp, newest first, whatever order the API returned.
        const ts = r.Timestamps ?? [];
        return r.Values
          .map((v, i) => ({ v, t: time(ts[i]) }))
          .sort((a, b) => b.t - a.t)
          .map((x) => x.v);
      };
      const active = series("active");
      const last = series("last");
      return {
        activeConnections: active[0] ?? null,
        lastActivityEpochSeconds: last.length ? Math.max(...last) : null,
      };
    },
  };
}

function time(d: Date | undefined): number {
  return d ? d.getTime() : 0;
}

/** AWS SDK error → ProviderThrottledError (throttling) or ProviderError with context. */
export function mapAwsError(e: unknown, context: string): ProviderError {
  if (e instanceof ProviderError) return e;
  const err = e as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const name = err?.name ?? "Error";
  const message = err?.message ?? String(e);
  if (THROTTLE_NAMES.has(name) || err?.$metadata?.httpStatusCode === 429) {
    return new ProviderThrottledError(
      `${context}: AWS throttled the request (${name}: ${message})`,
      {
        cause: e,
      },
    );
  }
  if (name === "ServiceNotFoundException" || name === "ClusterNotFoundException") {
    return new ProviderError(`${context}: ${name}: ${message}`, { cause: e });
  }
  return new ProviderError(`${context} failed: ${name}: ${message}`, { cause: e });
}
