/**
 * The agent: the HTTP proxy front (and the SOCKS5 front when enabled) on top
 * of a link manager that keeps one mTLS link to the server, plus /healthz,
 * /metrics and /proxy.pac.
 */
import type { Logger } from "../log/logger.ts";
import type { AgentConfig } from "../config/agent_config.ts";
import type { Session } from "../tunnel/session.ts";
import {
  type HealthServer,
  json,
  memoryRows,
  prometheusText,
  type Route,
  startHealthServer,
  text,
} from "../health/health_server.ts";
import { type AgentPems, dialLink } from "./link_dialer.ts";
import {
  type LinkEvent,
  LinkManager,
  type OpenStream,
  type ServerLocator,
} from "./link_manager.ts";
import { type HttpProxy, startHttpProxy } from "./http_proxy.ts";
import type { Socket } from "node:net";
import type { RequestHead } from "../http/head.ts";
import { type Socks5Front, startSocks5 } from "./socks5.ts";
import { pacRoute } from "./pac.ts";
import { basicAuthorizer, type CredentialCheck, isLoopbackHost } from "./proxy_auth.ts";
import { parseHostPort } from "../config/values.ts";

export interface AgentDeps {
  logger: Logger;
  pems: AgentPems;
  locator: ServerLocator;
  /** Errors that must stop the agent rather than be retried. */
  isFatal?: (e: unknown) => boolean;
  /** Connects the link through an upstream proxy. */
  socketFactory?: (host: string, port: number) => Promise<Socket>;
  /** Extra health routes (e.g. /proxy.pac). */
  routes?: Record<string, Route>;
  /** Proxy authentication on the HTTP front. */
  authorize?: (req: RequestHead) => boolean;
  /** Credentials for both fronts (HTTP Basic unless `authorize` is given, SOCKS5 RFC 1929). */
  credentials?: CredentialCheck;
  onLinkEvent?: (e: LinkEvent) => void;
}

export interface RunningAgent {
  proxyAddress: string;
  /** The SOCKS5 front, when `socks_listen` is set. */
  socksAddress?: string;
  healthAddress?: string;
  links: LinkManager;
  /** Opens a tunnel stream (for other fronts such as SOCKS5); see {@linkcode OpenStream}. */
  openStream: OpenStream;
  /** Rejects... never; resolves with the fatal error that stopped the link manager. */
  fatal: Promise<Error>;
  shutdown(drainMs?: number): Promise<void>;
}

export async function startAgent(cfg: AgentConfig, deps: AgentDeps): Promise<RunningAgent> {
  const log = deps.logger;
  let resolveFatal!: (e: Error) => void;
  const fatal = new Promise<Error>((r) => (resolveFatal = r));
  const counters = { requests: 0, streamsOpened: 0, noTunnel: 0 };
  const links = new LinkManager({
    locator: deps.locator,
    dial: (host, port) =>
      dialLink(host, port, {
        serverName: cfg.serverName,
        pems: deps.pems,
        connectTimeoutMs: cfg.connectTimeoutMs,
        link: cfg.link,
        logger: log,
        socketFactory: deps.socketFactory,
        alpn: cfg.tls.alpn || undefined,
      }),
    initialBackoffMs: cfg.reconnect.initialMs,
    maxBackoffMs: cfg.reconnect.maxMs,
    rediscoverAfter: cfg.reconnect.rediscoverAfter,
    logger: log,
    isFatal: deps.isFatal,
    onFatal: (e) => {
      log.error("tunnel stopped", { error: e.message });
      resolveFatal(e);
    },
    onEvent: deps.onLinkEvent,
  });
  links.start();

  const openOn = (session: Session, target: string, okWithData?: boolean) => {
    counters.streamsOpened++;
    return session.open(target, okWithData);
  };

  const openStream: OpenStream = (target, okWithData) => {
    const session = links.current;
    if (session) return openOn(session, target, okWithData);
    return links.session(cfg.linkWaitMs)
      .then((linked) => openOn(linked, target, okWithData))
      .catch((e) => {
        counters.noTunnel++;
        throw e;
      });
  };

  const proxy: HttpProxy = startHttpProxy(cfg.listen, {
    openStream,
    openTimeoutMs: cfg.openTimeoutMs,
    headTimeoutMs: cfg.http.headTimeoutMs,
    idleTimeoutMs: cfg.http.idleTimeoutMs,
    maxHeadSize: cfg.http.maxHeadSize,
    maxConnections: cfg.http.maxConnections,
    logger: log,
    authorize: deps.authorize ?? (deps.credentials && basicAuthorizer(deps.credentials)),
  });
  const socks: Socks5Front | undefined = cfg.socksListen
    ? startSocks5(cfg.socksListen, {
      openStream,
      openTimeoutMs: cfg.openTimeoutMs,
      handshakeTimeoutMs: cfg.http.headTimeoutMs,
      maxConnections: cfg.http.maxConnections,
      logger: log,
      authenticate: deps.credentials,
    })
    : undefined;
  warnIfOpen(log, "HTTP proxy", cfg.listen, proxy.address, !!(deps.authorize ?? deps.credentials));
  if (socks) warnIfOpen(log, "SOCKS5 proxy", cfg.socksListen, socks.address, !!deps.credentials);

  let health: HealthServer | undefined;
  if (cfg.healthListen) {
    const status = () => ({
      status: links.current ? "ok" : "degraded",
      role: "agent",
      tunnel: links.current ? "up" : "down",
      proxy: proxy.address,
      clientConnections: proxy.connections,
      streams: links.streamCount,
    });
    health = await startHealthServer(cfg.healthListen, {
      "/healthz": () => {
        const s = status();
        return json(s, s.tunnel === "up" ? 200 : 503);
      },
      "/metrics": () =>
        text(
          prometheusText([
            [
              "fluidity_agent_tunnel_up",
              "gauge",
              "1 when the link to the server is up",
              links.current ? 1 : 0,
            ],
            [
              "fluidity_agent_client_connections",
              "gauge",
              "proxy client connections",
              proxy.connections,
            ],
            ["fluidity_agent_streams", "gauge", "tunnel streams open", links.streamCount],
            [
              "fluidity_agent_streams_opened_total",
              "counter",
              "tunnel streams opened",
              counters.streamsOpened,
            ],
            [
              "fluidity_agent_no_tunnel_total",
              "counter",
              "requests refused with 503 no tunnel",
              counters.noTunnel,
            ],
            ...memoryRows("fluidity_agent"),
          ]),
        ),
      "/proxy.pac": pacRoute({
        proxy: proxy.address,
        socks: socks?.address,
        proxyDomains: cfg.pac.proxyDomains,
        direct: cfg.pac.direct,
      }),
      ...deps.routes,
    }, log);
  }

  let shut: Promise<void> | undefined;
  return {
    proxyAddress: proxy.address,
    socksAddress: socks?.address,
    healthAddress: health?.address,
    links,
    openStream,
    fatal,
    shutdown(drainMs = cfg.drainTimeoutMs) {
      shut ??= (async () => {
        await Promise.all([proxy.close(drainMs), socks?.close()]);
        await links.close(0);
        await health?.close();
      })();
      return shut;
    },
  };
}

/** A front reachable from other machines without credentials lets anyone use the tunnel: say so loudly. */
function warnIfOpen(
  log: Logger,
  front: string,
  listen: string,
  address: string,
  authenticated: boolean,
): void {
  if (authenticated || isLoopbackHost(parseHostPort(listen).host)) return;
  log.warn(
    `WARNING: the ${front} listens on ${address}, reachable from other machines, WITHOUT ` +
      "authentication: anyone who can connect can use the tunnel. Set proxy_auth.users or " +
      "proxy_auth.file, or listen on 127.0.0.1",
    { listen: address },
  );
}
