/**
 * The lifecycle Lambdas, thin over `src/lifecycle`: configuration from the
 * environment (validated once, at cold start), AWS clients created once per
 * cold start, and the event adapters: API Gateway REST (v1) proxy events in,
 * proxy responses out; EventBridge scheduled events for `sleep` and `kill`.
 *
 * @example
 * ```ts
 * // lambdas/wake.ts, handler "wake.handler"
 * export const handler = createLifecycleLambda("wake", { env: Deno.env.toObject() });
 * ```
 */
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { EC2Client } from "@aws-sdk/client-ec2";
import { ECSClient } from "@aws-sdk/client-ecs";
import { ConfigError } from "../src/errors.ts";
import { createAwsProvider } from "../src/lifecycle/aws_provider.ts";
import {
  DEFAULT_GRACE_MINUTES,
  DEFAULT_IDLE_MINUTES,
  kill,
  type LifecycleDeps,
  sleep,
} from "../src/lifecycle/handlers.ts";
import { handleLifecycleRequest } from "../src/lifecycle/http_api.ts";
import { createLogger, LOG_LEVELS, type Logger, type LogLevel } from "../src/log/logger.ts";
import type { LambdaContext, LambdaHandler } from "./runtime.ts";

/** The four functions deployed by `infra/lambda.yaml`. */
export type LifecycleFunction = "wake" | "query" | "kill" | "sleep";

/** Which functions answer API Gateway (`POST /<name>`) and which run on a schedule. */
export const API_FUNCTIONS: readonly LifecycleFunction[] = ["wake", "query", "kill"];
export const SCHEDULED_FUNCTIONS: readonly LifecycleFunction[] = ["sleep", "kill"];

/**
 * Environment variables the functions read, with what they mean. `infra/lambda.yaml`
 * sets exactly these (its test checks that), except `AWS_REGION`, which Lambda sets.
 */
export const LAMBDA_ENV = {
  CLUSTER: "ECS cluster name of the server stack",
  SERVICE: "ECS service name of the server stack",
  AWS_REGION: "region of the cluster (set by Lambda itself)",
  SERVER_PORT: "tunnel port reported by query (default 8443)",
  IDLE_MINUTES:
    `sleep scales to zero after this many idle minutes (default ${DEFAULT_IDLE_MINUTES})`,
  GRACE_MINUTES:
    `sleep never stops a server younger than this many minutes (default ${DEFAULT_GRACE_MINUTES})`,
  LOG_LEVEL: "debug, info, warn or error (default info)",
} as const;

/** Validated function configuration. */
export interface LambdaConfig {
  cluster: string;
  service: string;
  region: string;
  serverPort: number;
  idleMinutes: number;
  graceMinutes: number;
  logLevel: LogLevel;
}

/**
 * Reads and validates {@linkcode LAMBDA_ENV}. Every problem is reported at once
 * in one {@linkcode ConfigError}, so a broken deployment fails its first (init)
 * call with a message that names each variable.
 */
export function lambdaConfigFromEnv(env: Record<string, string | undefined>): LambdaConfig {
  const problems: string[] = [];
  const required = (name: keyof typeof LAMBDA_ENV): string => {
    const v = env[name]?.trim();
    if (!v) problems.push(`${name} is not set (${LAMBDA_ENV[name]})`);
    return v ?? "";
  };
  const int = (name: keyof typeof LAMBDA_ENV, dflt: number, min: number, max: number): number => {
    const raw = env[name]?.trim();
    if (raw === undefined || raw === "") return dflt;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
      return dflt;
    }
    return n;
  };
  const cluster = required("CLUSTER");
  const service = required("SERVICE");
  const region = required("AWS_REGION");
  const serverPort = int("SERVER_PORT", 8443, 1, 65535);
  const idleMinutes = int("IDLE_MINUTES", DEFAULT_IDLE_MINUTES, 1, 1440);
  const graceMinutes = int("GRACE_MINUTES", DEFAULT_GRACE_MINUTES, 0, 1440);
  const level = (env["LOG_LEVEL"]?.trim() || "info").toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, got "${env["LOG_LEVEL"]}"`);
  }
  if (problems.length > 0) {
    throw new ConfigError(`invalid Lambda configuration: ${problems.join("; ")}`);
  }
  return {
    cluster,
    service,
    region,
    serverPort,
    idleMinutes,
    graceMinutes,
    logLevel: level as LogLevel,
  };
}

/** The SDK clients the aws provider needs. */
export interface AwsClients {
  ecs: ECSClient;
  ec2: EC2Client;
  cloudwatch: CloudWatchClient;
}

/** One client per service for `region`; created once per cold start. */
export function createAwsClients(region: string): AwsClients {
  return {
    ecs: new ECSClient({ region }),
    ec2: new EC2Client({ region }),
    cloudwatch: new CloudWatchClient({ region }),
  };
}

/** API Gateway REST API (v1) Lambda proxy integration event: the fields used here. */
export interface ApiGatewayProxyEvent {
  httpMethod: string;
  path: string;
  resource?: string;
  headers?: Record<string, string | undefined> | null;
  body?: string | null;
  isBase64Encoded?: boolean;
  requestContext?: { requestId?: string; stage?: string };
}

/** API Gateway proxy integration response. */
export interface ApiGatewayProxyResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  isBase64Encoded: false;
}

/** EventBridge scheduled event (`detail-type: "Scheduled Event"`). */
export interface ScheduledEvent {
  "detail-type": string;
  source: string;
  time?: string;
  resources?: string[];
}

export interface LifecycleLambdaOptions {
  /** Environment to read {@linkcode LAMBDA_ENV} from. */
  env: Record<string, string | undefined>;
  /** Injected SDK clients (tests); default {@linkcode createAwsClients}. */
  clients?: AwsClients;
  /** Clock in epoch ms. Default `Date.now`. */
  now?: () => number;
  /** Default: JSON lines on stderr (CloudWatch Logs) at `LOG_LEVEL`. */
  logger?: Logger;
}

/**
 * Builds the handler of one lifecycle function. Throws {@linkcode ConfigError}
 * on bad configuration: called at module top level, that is the init error.
 */
export function createLifecycleLambda(
  fn: LifecycleFunction,
  options: LifecycleLambdaOptions,
): LambdaHandler<unknown, unknown> {
  const config = lambdaConfigFromEnv(options.env);
  const logger = options.logger ??
    createLogger({ level: config.logLevel, format: "json" }, { function: fn });
  const clients = options.clients ?? createAwsClients(config.region);
  const provider = createAwsProvider({
    ...clients,
    cluster: config.cluster,
    service: config.service,
    port: config.serverPort,
    now: options.now,
    logger,
  });
  const baseDeps: LifecycleDeps = {
    provider,
    now: options.now,
    idleMinutes: config.idleMinutes,
    graceMinutes: config.graceMinutes,
  };

  return async (event: unknown, context: LambdaContext) => {
    const log = logger.child({ requestId: context?.requestId });
    const deps = { ...baseDeps, logger: log };
    if (isApiGatewayEvent(event)) {
      return await onApiRequest(fn, event, deps);
    }
    if (isScheduledEvent(event)) {
      if (!SCHEDULED_FUNCTIONS.includes(fn)) {
        throw new TypeError(`${fn} does not run on a schedule (got a scheduled event)`);
      }
      // Errors propagate: the invocation fails, which the Errors alarm counts.
      const result = fn === "sleep" ? await sleep(deps) : await kill(deps);
      log.info(`scheduled ${fn} done`, { result, schedule: event.resources?.[0] });
      return result;
    }
    throw new TypeError(
      `${fn}: unsupported event (expected an API Gateway proxy event or an EventBridge ` +
        `scheduled event), keys: ${describeKeys(event)}`,
    );
  };
}

async function onApiRequest(
  fn: LifecycleFunction,
  event: ApiGatewayProxyEvent,
  deps: LifecycleDeps,
): Promise<ApiGatewayProxyResult> {
  const route = event.path.split("?")[0]?.replace(/\/+$/, "").split("/").pop();
  // Each function serves only its own route, with only its own IAM permissions.
  if (!API_FUNCTIONS.includes(fn) || route !== fn) {
    return {
      statusCode: 404,
      headers: { "content-type": "application/json", "cache-control": "no-store" },
      body: JSON.stringify({ message: `Not Found: ${event.path}` }),
      isBase64Encoded: false,
    };
  }
  const body = event.body && event.isBase64Encoded
    ? new TextDecoder().decode(Uint8Array.from(atob(event.body), (c) => c.charCodeAt(0)))
    : event.body;
  // No apiKey: API Gateway checks x-api-key (ApiKeyRequired) before invoking us.
  const res = await handleLifecycleRequest(
    { method: event.httpMethod, path: event.path, headers: event.headers ?? {}, body },
    deps,
  );
  return { ...res, isBase64Encoded: false };
}

function isApiGatewayEvent(e: unknown): e is ApiGatewayProxyEvent {
  const o = e as Record<string, unknown> | null;
  return typeof o === "object" && o !== null && typeof o["httpMethod"] === "string" &&
    typeof o["path"] === "string";
}

function isScheduledEvent(e: unknown): e is ScheduledEvent {
  const o = e as Record<string, unknown> | null;
  return typeof o === "object" && o !== null && o["detail-type"] === "Scheduled Event" &&
    o["source"] === "aws.events";
}

function describeKeys(e: unknown): string {
  if (typeof e !== "object" || e === null) return JSON.stringify(e) ?? String(e);
  return Object.keys(e).slice(0, 10).join(", ") || "(none)";
}
