/** `fluidity agent` settings. */
import { linkFields, LOG_FIELDS, TLS_HELP } from "./common_fields.ts";
import { type LinkConfig, linkConfigOf } from "./server_config.ts";
import type { ConfigValues, Field } from "./schema.ts";
import type { LogFormat, LogLevel } from "../log/logger.ts";

const KiB = 1024;

export const AGENT_FIELDS: readonly Field[] = [
  {
    key: "listen",
    kind: "address",
    default: "127.0.0.1:8080",
    flag: "listen",
    help: "HTTP proxy listen address",
  },
  {
    key: "socks_listen",
    kind: "address",
    optional: true,
    default: "",
    flag: "socks-listen",
    help: "SOCKS5 listen address (empty = off)",
  },
  {
    key: "health_listen",
    kind: "address",
    optional: true,
    default: "",
    flag: "health-listen",
    help: "address for /healthz, /metrics and /proxy.pac (empty = off)",
  },
  {
    key: "server",
    kind: "address",
    optional: true,
    default: "",
    flag: "server",
    help: "static server HOST:PORT (no lifecycle calls); empty = discover via the lifecycle API",
  },
  {
    key: "server_name",
    kind: "string",
    default: "fluidity-server",
    flag: "server-name",
    help: "name the server certificate must carry",
  },
  {
    key: "tls.cert",
    kind: "string",
    default: "certs/agent.crt",
    flag: "cert",
    help: `agent (client) certificate: ${TLS_HELP}`,
  },
  {
    key: "tls.key",
    kind: "string",
    default: "certs/agent.key",
    flag: "key",
    secret: true,
    help: `agent private key: ${TLS_HELP}`,
  },
  {
    key: "tls.ca",
    kind: "string",
    default: "certs/ca.crt",
    flag: "ca",
    help: `the private CA, the only one trusted for the server: ${TLS_HELP}`,
  },
  {
    key: "lifecycle.url",
    kind: "url",
    default: "",
    flag: "lifecycle-url",
    help: "lifecycle API base URL (API Gateway stage or local control plane)",
  },
  {
    key: "lifecycle.api_key",
    kind: "string",
    default: "",
    flag: "api-key",
    secret: true,
    help: "lifecycle API key (sent as x-api-key)",
  },
  {
    key: "lifecycle.wake_timeout",
    kind: "duration",
    default: 180_000,
    min: 1000,
    max: 3_600_000,
    help: "give up waiting for a woken server after this long",
  },
  {
    key: "lifecycle.kill_on_exit",
    kind: "bool",
    default: true,
    help: "call kill when the agent exits",
  },
  {
    key: "reconnect.initial",
    kind: "duration",
    default: 250,
    min: 10,
    max: 600_000,
    help: "first reconnect delay (doubles with full jitter)",
  },
  {
    key: "reconnect.max",
    kind: "duration",
    default: 30_000,
    min: 10,
    max: 3_600_000,
    help: "longest reconnect delay",
  },
  {
    key: "reconnect.rediscover_after",
    kind: "int",
    default: 3,
    min: 1,
    max: 1000,
    help: "consecutive failed reconnects before asking the lifecycle API again",
  },
  {
    key: "link_wait",
    kind: "duration",
    default: 10_000,
    min: 0,
    max: 600_000,
    help: "how long a new request waits for a down link before 503",
  },
  {
    key: "drain_timeout",
    kind: "duration",
    default: 30_000,
    min: 0,
    max: 3_600_000,
    help: "on shutdown, how long in-flight requests may finish (a second signal forces)",
  },
  {
    key: "connect_timeout",
    kind: "duration",
    default: 15_000,
    min: 100,
    max: 600_000,
    help: "timeout for the TCP+TLS handshake to the server",
  },
  {
    key: "open_timeout",
    kind: "duration",
    default: 30_000,
    min: 100,
    max: 600_000,
    help: "how long to wait for the server to dial a target (then 504)",
  },
  {
    key: "http.max_head_size",
    kind: "size",
    default: 64 * KiB,
    min: 1 * KiB,
    max: 1024 * KiB,
    help: "largest request head accepted from a client",
  },
  {
    key: "http.head_timeout",
    kind: "duration",
    default: 30_000,
    min: 100,
    max: 600_000,
    help: "a client must send a full request head within this time",
  },
  {
    key: "http.idle_timeout",
    kind: "duration",
    default: 120_000,
    min: 100,
    max: 24 * 3_600_000,
    help: "close a keep-alive client connection idle this long",
  },
  {
    key: "http.max_connections",
    kind: "int",
    default: 10_000,
    min: 1,
    max: 1_000_000,
    help: "most concurrent client connections",
  },
  // -- corporate networks (issue 9) --
  {
    key: "tls.alpn",
    kind: "string",
    default: "fluidity/1",
    help: "ALPN protocol id offered to the server (match the server's tls.alpn; empty = none)",
  },
  {
    key: "proxy_auth.users",
    kind: "list",
    default: [],
    secret: true,
    help: 'credentials for the HTTP and SOCKS5 fronts, "user:password" each (empty = no auth)',
  },
  {
    key: "proxy_auth.file",
    kind: "string",
    default: "",
    help: "htpasswd-style file of user:password lines (plain, {SHA} or $apr1$ MD5)",
  },
  {
    key: "pac.proxy_domains",
    kind: "list",
    default: [],
    help:
      "host patterns /proxy.pac sends through the agent (*.example.com, .example.com; empty = all)",
  },
  {
    key: "pac.direct",
    kind: "list",
    default: [],
    help:
      "hosts, domain suffixes and IPv4 CIDRs /proxy.pac sends DIRECT (besides plain names and loopback)",
  },
  {
    key: "upstream_proxy.url",
    kind: "string",
    default: "",
    flag: "upstream-proxy",
    secret: true,
    help:
      "HTTP proxy for the link, http://[user:pass@]host:port (empty = HTTPS_PROXY; none = direct)",
  },
  {
    key: "upstream_proxy.auth",
    kind: "enum",
    values: ["auto", "basic", "ntlm"],
    default: "auto",
    help:
      "proxy authentication: auto (as the proxy asks, NTLM first), basic or ntlm (sent at once)",
  },
  {
    key: "upstream_proxy.domain",
    kind: "string",
    default: "",
    help: "NTLM domain (or give the user as DOMAIN\\user in the URL)",
  },
  {
    key: "upstream_proxy.no_proxy",
    kind: "list",
    default: [],
    help: "server hosts reached directly, NO_PROXY syntax (NO_PROXY also applies to HTTPS_PROXY)",
  },
  ...linkFields(),
  ...LOG_FIELDS,
];

export interface AgentConfig {
  listen: string;
  socksListen: string;
  healthListen: string;
  server: string;
  serverName: string;
  tls: { cert: string; key: string; ca: string; alpn: string };
  lifecycle: { url: string; apiKey: string; wakeTimeoutMs: number; killOnExit: boolean };
  reconnect: { initialMs: number; maxMs: number; rediscoverAfter: number };
  linkWaitMs: number;
  drainTimeoutMs: number;
  connectTimeoutMs: number;
  openTimeoutMs: number;
  http: {
    maxHeadSize: number;
    headTimeoutMs: number;
    idleTimeoutMs: number;
    maxConnections: number;
  };
  link: LinkConfig;
  log: { level: LogLevel; format: LogFormat };
  proxyAuth: { users: string[]; file: string };
  pac: { proxyDomains: string[]; direct: string[] };
  upstreamProxy: {
    url: string;
    auth: "auto" | "basic" | "ntlm";
    domain: string;
    noProxy: string[];
  };
}

export function agentConfigOf(v: ConfigValues): AgentConfig {
  return {
    listen: v["listen"] as string,
    socksListen: v["socks_listen"] as string,
    healthListen: v["health_listen"] as string,
    server: v["server"] as string,
    serverName: v["server_name"] as string,
    tls: {
      cert: v["tls.cert"] as string,
      key: v["tls.key"] as string,
      ca: v["tls.ca"] as string,
      alpn: v["tls.alpn"] as string,
    },
    lifecycle: {
      url: v["lifecycle.url"] as string,
      apiKey: v["lifecycle.api_key"] as string,
      wakeTimeoutMs: v["lifecycle.wake_timeout"] as number,
      killOnExit: v["lifecycle.kill_on_exit"] as boolean,
    },
    reconnect: {
      initialMs: v["reconnect.initial"] as number,
      maxMs: v["reconnect.max"] as number,
      rediscoverAfter: v["reconnect.rediscover_after"] as number,
    },
    linkWaitMs: v["link_wait"] as number,
    drainTimeoutMs: v["drain_timeout"] as number,
    connectTimeoutMs: v["connect_timeout"] as number,
    openTimeoutMs: v["open_timeout"] as number,
    http: {
      maxHeadSize: v["http.max_head_size"] as number,
      headTimeoutMs: v["http.head_timeout"] as number,
      idleTimeoutMs: v["http.idle_timeout"] as number,
      maxConnections: v["http.max_connections"] as number,
    },
    link: linkConfigOf(v),
    log: { level: v["log.level"] as LogLevel, format: v["log.format"] as LogFormat },
    proxyAuth: { users: v["proxy_auth.users"] as string[], file: v["proxy_auth.file"] as string },
    pac: { proxyDomains: v["pac.proxy_domains"] as string[], direct: v["pac.direct"] as string[] },
    upstreamProxy: {
      url: v["upstream_proxy.url"] as string,
      auth: v["upstream_proxy.auth"] as "auto" | "basic" | "ntlm",
      domain: v["upstream_proxy.domain"] as string,
      noProxy: v["upstream_proxy.no_proxy"] as string[],
    },
  };
}
