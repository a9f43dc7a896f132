/** `fluidity server` settings. */
import { linkFields, LOG_FIELDS, TLS_HELP } from "./common_fields.ts";
import type { ConfigValues, Field } from "./schema.ts";
import type { LogFormat, LogLevel } from "../log/logger.ts";

export const SERVER_FIELDS: readonly Field[] = [
  {
    key: "listen",
    kind: "address",
    default: "0.0.0.0:8443",
    flag: "listen",
    help: "mTLS listen address",
  },
  {
    key: "health_listen",
    kind: "address",
    optional: true,
    default: "",
    flag: "health-listen",
    help: "address for /healthz and /metrics (empty = off)",
  },
  {
    key: "tls.cert",
    kind: "string",
    default: "certs/server.crt",
    flag: "cert",
    help: `server certificate: ${TLS_HELP}`,
  },
  {
    key: "tls.key",
    kind: "string",
    default: "certs/server.key",
    flag: "key",
    secret: true,
    help: `server private key: ${TLS_HELP}`,
  },
  {
    key: "tls.ca",
    kind: "string",
    default: "certs/ca.crt",
    flag: "ca",
    help: `CA that signs agent certificates: ${TLS_HELP}`,
  },
  {
    key: "tls.alpn",
    kind: "string",
    default: "fluidity/1",
    help: "ALPN protocol id announced by the server",
  },
  {
    key: "allow_private_targets",
    kind: "bool",
    default: false,
    flag: "allow-private-targets",
    help: "let streams reach loopback, private and link-local addresses",
  },
  {
    key: "policy.allow_hosts",
    kind: "list",
    default: [],
    help: "if set, only these host patterns may be dialed (*.example.com)",
  },
  {
    key: "policy.deny_hosts",
    kind: "list",
    default: [],
    help: "host patterns never dialed",
  },
  {
    key: "policy.allow_ports",
    kind: "list",
    default: [],
    help: "if set, only these ports (or ranges 8000-8100) may be dialed",
  },
  {
    key: "dial_timeout",
    kind: "duration",
    default: 10_000,
    min: 100,
    max: 300_000,
    help: "give up dialing a target after this long",
  },
  {
    key: "breaker.failures",
    kind: "int",
    default: 5,
    min: 1,
    max: 1000,
    help: "consecutive dial failures that open a target's circuit breaker",
  },
  {
    key: "breaker.cooldown",
    kind: "duration",
    default: 30_000,
    min: 0,
    max: 3_600_000,
    help: "how long an open breaker fails fast before one trial dial",
  },
  {
    key: "drain_timeout",
    kind: "duration",
    default: 30_000,
    min: 0,
    max: 3_600_000,
    help: "on shutdown, how long in-flight streams may finish",
  },
  {
    key: "metrics.cloudwatch",
    kind: "bool",
    default: false,
    help: "emit ActiveConnections and LastActivityEpochSeconds to CloudWatch",
  },
  {
    key: "metrics.interval",
    kind: "duration",
    default: 60_000,
    min: 1000,
    max: 3_600_000,
    help: "how often metrics are emitted",
  },
  {
    key: "metrics.region",
    kind: "string",
    default: "",
    help: "AWS region for CloudWatch (empty = from the environment)",
  },
  ...linkFields(),
  ...LOG_FIELDS,
];

/** The typed view of resolved server settings. */
export interface ServerConfig {
  listen: string;
  healthListen: string;
  tls: { cert: string; key: string; ca: string; alpn: string };
  allowPrivateTargets: boolean;
  policy: { allowHosts: string[]; denyHosts: string[]; allowPorts: string[] };
  dialTimeoutMs: number;
  breaker: { failures: number; cooldownMs: number };
  drainTimeoutMs: number;
  metrics: { cloudwatch: boolean; intervalMs: number; region: string };
  link: LinkConfig;
  log: { level: LogLevel; format: LogFormat };
}

/** Link tuning shared by both ends. */
export interface LinkConfig {
  streamWindow: number;
  /** Receive-window auto-tuning ceilings (src/tunnel/window_tuner.ts). */
  streamWindowMax: number;
  linkWindow: number;
  linkWindowMax: number;
  maxFrameSize: number;
  maxStreams: number;
  keepaliveIntervalMs: number;
  keepaliveTimeoutMs: number;
  idleStreamTimeoutMs: number;
}

export function linkConfigOf(v: ConfigValues): LinkConfig {
  return {
    streamWindow: v["link.stream_window"] as number,
    streamWindowMax: v["link.stream_window_max"] as number,
    linkWindow: v["link.link_window"] as number,
    linkWindowMax: v["link.link_window_max"] as number,
    maxFrameSize: v["link.max_frame_size"] as number,
    maxStreams: v["link.max_streams"] as number,
    keepaliveIntervalMs: v["link.keepalive_interval"] as number,
    keepaliveTimeoutMs: v["link.keepalive_timeout"] as number,
    idleStreamTimeoutMs: v["link.idle_stream_timeout"] as number,
  };
}

export function serverConfigOf(v: ConfigValues): ServerConfig {
  return {
    listen: v["listen"] as string,
    healthListen: v["health_listen"] as string,
    tls: {
      cert: v["tls.cert"] as string,
      key: v["tls.key"] as string,
      ca: v["tls.ca"] as string,
      alpn: v["tls.alpn"] as string,
    },
    allowPrivateTargets: v["allow_private_targets"] as boolean,
    policy: {
      allowHosts: v["policy.allow_hosts"] as string[],
      denyHosts: v["policy.deny_hosts"] as string[],
      allowPorts: v["policy.allow_ports"] as string[],
    },
    dialTimeoutMs: v["dial_timeout"] as number,
    breaker: {
      failures: v["breaker.failures"] as number,
      cooldownMs: v["breaker.cooldown"] as number,
    },
    drainTimeoutMs: v["drain_timeout"] as number,
    metrics: {
      cloudwatch: v["metrics.cloudwatch"] as boolean,
      intervalMs: v["metrics.interval"] as number,
      region: v["metrics.region"] as string,
    },
    link: linkConfigOf(v),
    log: { level: v["log.level"] as LogLevel, format: v["log.format"] as LogFormat },
  };
}
