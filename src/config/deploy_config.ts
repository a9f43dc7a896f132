/**
 * `fluidity deploy` settings (`deploy.yaml`): what the two CloudFormation
 * stacks need from the user, and where the local files go. Names of AWS
 * resources are derived from `stack_prefix` so `up`, `status` and `down` find
 * the same things again.
 */
import { ConfigError } from "../errors.ts";
import type { ConfigValues, Field } from "./schema.ts";

/** Values CloudFormation accepts for `LogRetentionDays` (both templates). */
export const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365] as const;

export const DEPLOY_FIELDS: readonly Field[] = [
  {
    key: "region",
    kind: "string",
    default: "",
    flag: "region",
    help: "AWS region (empty = AWS_REGION, then AWS_DEFAULT_REGION)",
  },
  {
    key: "stack_prefix",
    kind: "string",
    default: "fluidity",
    flag: "stack-prefix",
    help: "names everything: stacks PREFIX-server and PREFIX-control, ECS cluster PREFIX, " +
      "service PREFIX-server, secrets PREFIX/..., artifact keys PREFIX/...",
  },
  {
    key: "image_uri",
    kind: "string",
    default: "",
    flag: "image-uri",
    help: "server container image (infra/Dockerfile, pushed to ECR); required by up",
  },
  {
    key: "allowed_cidr",
    kind: "string",
    default: "",
    flag: "allowed-cidr",
    help: "who may reach the tunnel port, e.g. 198.51.100.7/32; required by up",
  },
  {
    key: "vpc_id",
    kind: "string",
    default: "",
    help: "VPC of the server task (empty = the region's default VPC)",
  },
  {
    key: "subnet_ids",
    kind: "list",
    default: [],
    help: "public subnets for the task (empty = the default subnets of the VPC)",
  },
  {
    key: "tunnel_port",
    kind: "int",
    default: 8443,
    min: 1,
    max: 65535,
    help: "TCP port of the mTLS tunnel",
  },
  {
    key: "certs_dir",
    kind: "string",
    default: "certs",
    flag: "certs-dir",
    help: "private CA and certificates (created when missing; ca.key never leaves it)",
  },
  {
    key: "server_name",
    kind: "string",
    default: "fluidity-server",
    help: "name in the server certificate, checked by the agent",
  },
  {
    key: "agent_name",
    kind: "string",
    default: "agent",
    help: "agent certificate: CERTS_DIR/NAME.crt and NAME.key",
  },
  {
    key: "agent_config_path",
    kind: "string",
    default: "agent.yaml",
    flag: "agent-config",
    help: "agent config written by up (mode 0600: it holds the API key)",
  },
  {
    key: "artifacts_dir",
    kind: "string",
    default: "dist",
    help: "directory with layer.zip and the function zips from 'deno task layer'",
  },
  {
    key: "templates_dir",
    kind: "string",
    default: "",
    help: "directory with fargate.yaml and lambda.yaml (empty = infra/ of this Fluidity)",
  },
  {
    key: "bucket",
    kind: "string",
    default: "",
    help:
      "S3 bucket for the Lambda zips (empty = PREFIX-artifacts-ACCOUNT-REGION, created if missing)",
  },
  {
    key: "idle_minutes",
    kind: "int",
    default: 15,
    min: 1,
    max: 1440,
    help: "sleep stops the server after this many minutes without connections or traffic",
  },
  {
    key: "grace_minutes",
    kind: "int",
    default: 10,
    min: 0,
    max: 1440,
    help: "sleep never stops a server younger than this many minutes",
  },
  {
    key: "kill_cron",
    kind: "string",
    default: "cron(0 3 * * ? *)",
    help: "daily kill schedule (EventBridge expression, UTC)",
  },
  {
    key: "alarm_email",
    kind: "string",
    default: "",
    help: "address notified when an alarm fires (empty = no notification)",
  },
  {
    key: "log_retention_days",
    kind: "int",
    default: 14,
    min: 1,
    max: 365,
    help: `days CloudWatch Logs keeps logs: one of ${LOG_RETENTION_DAYS.join(", ")}`,
  },
  {
    key: "wait_timeout",
    kind: "duration",
    default: 3_600_000,
    min: 60_000,
    max: 6 * 3_600_000,
    help: "give up waiting for one stack operation after this long",
  },
];

/** The typed view of resolved deploy settings. */
export interface DeployConfig {
  /** Empty until {@linkcode resolveRegion} fills it from the environment. */
  region: string;
  stackPrefix: string;
  imageUri: string;
  allowedCidr: string;
  vpcId: string;
  subnetIds: string[];
  tunnelPort: number;
  certsDir: string;
  serverName: string;
  agentName: string;
  agentConfigPath: string;
  artifactsDir: string;
  templatesDir: string;
  bucket: string;
  idleMinutes: number;
  graceMinutes: number;
  killCron: string;
  alarmEmail: string;
  logRetentionDays: number;
  waitTimeoutMs: number;
}

export function deployConfigOf(v: ConfigValues): DeployConfig {
  return {
    region: v["region"] as string,
    stackPrefix: v["stack_prefix"] as string,
    imageUri: v["image_uri"] as string,
    allowedCidr: v["allowed_cidr"] as string,
    vpcId: v["vpc_id"] as string,
    subnetIds: v["subnet_ids"] as string[],
    tunnelPort: v["tunnel_port"] as number,
    certsDir: v["certs_dir"] as string,
    serverName: v["server_name"] as string,
    agentName: v["agent_name"] as string,
    agentConfigPath: v["agent_config_path"] as string,
    artifactsDir: v["artifacts_dir"] as string,
    templatesDir: v["templates_dir"] as string,
    bucket: v["bucket"] as string,
    idleMinutes: v["idle_minutes"] as number,
    graceMinutes: v["grace_minutes"] as number,
    killCron: v["kill_cron"] as string,
    alarmEmail: v["alarm_email"] as string,
    logRetentionDays: v["log_retention_days"] as number,
    waitTimeoutMs: v["wait_timeout"] as number,
  };
}

/** AWS names derived from the stack prefix. */
export interface DeployNames {
  serverStack: string;
  controlStack: string;
  cluster: string;
  service: string;
  /** Secrets Manager names of the server certificate, its key and the CA certificate. */
  secrets: { serverCert: string; serverKey: string; caCert: string };
  /** Every artifact key starts with this (`PREFIX/`). */
  artifactRoot: string;
}

export function deployNames(prefix: string): DeployNames {
  return {
    serverStack: `${prefix}-server`,
    controlStack: `${prefix}-control`,
    cluster: prefix,
    service: `${prefix}-server`,
    secrets: {
      serverCert: `${prefix}/server.crt`,
      serverKey: `${prefix}/server.key`,
      caCert: `${prefix}/ca.crt`,
    },
    artifactRoot: `${prefix}/`,
  };
}

/** The bucket to use: configured, or `PREFIX-artifacts-ACCOUNT-REGION`. */
export function bucketName(cfg: DeployConfig, account: string): string {
  return cfg.bucket || `${cfg.stackPrefix}-artifacts-${account}-${cfg.region}`;
}

const PREFIX_RE = /^[a-z][a-z0-9-]{0,23}[a-z0-9]$|^[a-z]$/;
const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const REGION_RE = /^[a-z]{2}(-[a-z]+)+-\d+$/;
const CIDR_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

/**
 * Fills `region` from `AWS_REGION`/`AWS_DEFAULT_REGION` and checks the
 * settings every subcommand needs. Throws {@linkcode ConfigError}.
 */
export function resolveRegion(
  cfg: DeployConfig,
  env: Record<string, string | undefined>,
): DeployConfig {
  const region = cfg.region || env["AWS_REGION"] || env["AWS_DEFAULT_REGION"] || "";
  if (!region) {
    throw new ConfigError(
      "deploy: no AWS region: set region in deploy.yaml, --region, FLUIDITY_REGION or AWS_REGION",
    );
  }
  if (!REGION_RE.test(region)) {
    throw new ConfigError(
      `deploy: region: expected an AWS region like "eu-west-1", got ${JSON.stringify(region)}`,
    );
  }
  if (!PREFIX_RE.test(cfg.stackPrefix)) {
    throw new ConfigError(
      `deploy: stack_prefix (--stack-prefix): expected 1-25 lowercase letters, digits and "-", ` +
        `starting with a letter, got ${JSON.stringify(cfg.stackPrefix)}`,
    );
  }
  if (cfg.bucket && !BUCKET_RE.test(cfg.bucket)) {
    throw new ConfigError(
      `deploy: bucket: expected an S3 bucket name (3-63 lowercase letters, digits, "." and "-"), ` +
        `got ${JSON.stringify(cfg.bucket)}`,
    );
  }
  return { ...cfg, region };
}

/** Checks what `deploy up` needs beyond {@linkcode resolveRegion}. Throws {@linkcode ConfigError}. */
export function validateUpConfig(cfg: DeployConfig): void {
  const problems: string[] = [];
  if (!cfg.imageUri) {
    problems.push(
      "image_uri (--image-uri) is required: the server image built from infra/Dockerfile and " +
        "pushed to ECR (docs/deployment.md, step 3)",
    );
  }
  if (!cfg.allowedCidr) {
    problems.push(
      "allowed_cidr (--allowed-cidr) is required: the address your agent connects from, e.g. " +
        "$(curl -s https://checkip.amazonaws.com)/32",
    );
  } else if (!isCidr(cfg.allowedCidr)) {
    problems.push(
      `allowed_cidr: expected an IPv4 CIDR like "198.51.100.7/32", got ${
        JSON.stringify(cfg.allowedCidr)
      }`,
    );
  }
  if (!/^(cron|rate)\(.+\)$/.test(cfg.killCron)) {
    problems.push(
      `kill_cron: expected an EventBridge expression like "cron(0 3 * * ? *)", got ${
        JSON.stringify(cfg.killCron)
      }`,
    );
  }
  if (!(LOG_RETENTION_DAYS as readonly number[]).includes(cfg.logRetentionDays)) {
    problems.push(
      `log_retention_days: expected one of ${
        LOG_RETENTION_DAYS.join(", ")
      }, got ${cfg.logRetentionDays}`,
    );
  }
  if (cfg.subnetIds.length > 0 && !cfg.vpcId) {
    problems.push("subnet_ids is set but vpc_id is not: set both, or neither for the default VPC");
  }
  if (cfg.vpcId && cfg.subnetIds.length === 0) {
    problems.push("vpc_id is set but subnet_ids is not: list the VPC's public subnets");
  }
  if (!/^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(cfg.serverName)) {
    problems.push(`server_name: expected a DNS name, got ${JSON.stringify(cfg.serverName)}`);
  }
  if (problems.length > 0) throw new ConfigError(`deploy up: ${problems.join("; ")}`);
}

function isCidr(text: string): boolean {
  const m = CIDR_RE.exec(text);
  if (!m) return false;
  const octets = m.slice(1, 5).map(Number);
  return octets.every((o) => o <= 255) && Number(m[5]) <= 32;
}
