/**
 * The tunnel server: an mTLS listener (TLS 1.3, client certificate from the
 * private CA required) whose links carry streams; each stream is dialed to
 * its target under the destination policy and circuit breaker, then piped.
 */
import * as tls from "node:tls";
import type { Socket } from "node:net";
import type { Logger } from "../log/logger.ts";
import type { ServerConfig } from "../config/server_config.ts";
import { parseHostPort } from "../config/values.ts";
import { ResetCode } from "../tunnel/frames.ts";
import { Session } from "../tunnel/session.ts";
import { socketTransport } from "../tunnel/socket_transport.ts";
import type { TunnelStream } from "../tunnel/stream.ts";
import { pipeBoth } from "../tunnel/pipe.ts";
import { linkProver } from "../certs/link_proof.ts";
import { CircuitBreaker } from "./breaker.ts";
import { createDialer, type Dialer, DialError, splitTarget } from "./dialer.ts";
import { ServerMetrics } from "./metrics.ts";
import {
  type HealthServer,
  json,
  memoryRows,
  startHealthServer,
  text,
} from "../health/health_server.ts";

export interface ServerPems {
  cert: string;
  key: string;
  ca: string;
}

export interface ServerDeps {
  logger: Logger;
  pems: ServerPems;
  /** Replaces the policy-enforcing TCP dialer (tests). */
  dialer?: Dialer;
  now?: () => number;
}

export interface RunningServer {
  /** `host:port` the mTLS listener is bound to. */
  address: string;
  /** `host:port` of /healthz and /metrics, when enabled. */
  healthAddress?: string;
  metrics: ServerMetrics;
  /** Stop accepting, go-away to every link, wait up to `drainMs` for streams, close. */
  shutdown(drainMs?: number): Promise<void>;
}

/** Resets that say the target is sick (they count for its breaker). */
const BREAKER_CODES = new Set<number>([
  ResetCode.REFUSED,
  ResetCode.UNREACHABLE,
  ResetCode.TIMEOUT,
  ResetCode.CONN_RESET,
]);

function peerName(sock: tls.TLSSocket): string {
  try {
    const cert = sock.getPeerCertificate();
    const cn = cert?.subject?.CN;
    return Array.isArray(cn) ? cn.join(",") : cn ?? "unknown";
  } catch {
    return "unknown";
  }
}

export async function startServer(cfg: ServerConfig, deps: ServerDeps): Promise<RunningServer> {
  const log = deps.logger;
  const now = deps.now ?? Date.now;
  const metrics = new ServerMetrics(now);
  const breaker = new CircuitBreaker({
    failures: cfg.breaker.failures,
    cooldownMs: cfg.breaker.cooldownMs,
    now,
  });
  const dial = deps.dialer ?? createDialer({
    timeoutMs: cfg.dialTimeoutMs,
    policy: {
      allowPrivateTargets: cfg.allowPrivateTargets,
      allowHosts: cfg.policy.allowHosts,
      denyHosts: cfg.policy.denyHosts,
      allowPorts: cfg.policy.allowPorts,
    },
  });
  const sessions = new Set<Session>();
  let stopping = false;

  async function handleStream(
    session: Session,
    stream: TunnelStream,
    agent: string,
  ): Promise<void> {
    metrics.streamsTotal++;
    metrics.activeStreams++;
    metrics.touch();
    stream.done.then(() => {
      metrics.activeStreams--;
      metrics.touch();
    });
    const target = stream.target;
    let conn: Deno.TcpConn;
    try {
      const { host, port } = splitTarget(target);
      const gate = breaker.check(target);
      if (!gate.allowed) {
        throw new DialError(
          ResetCode.BREAKER_OPEN,
          `${target}: circuit breaker open after ${cfg.breaker.failures} failed dials; ` +
            `next trial in ${Math.ceil(gate.retryInMs / 1000)}s`,
        );
      }
      try {
        conn = await dial(host, port);
        breaker.success(target);
      } catch (e) {
        // A failed half-open trial always re-opens the breaker, whatever the reason.
        if (gate.trial || (e instanceof DialError && BREAKER_CODES.has(e.code))) {
          breaker.failure(target);
        }
        throw e;
      }
    } catch (e) {
      const err = e instanceof DialError ? e : new DialError(ResetCode.INTERNAL, String(e));
      if (err.code === ResetCode.FORBIDDEN) metrics.policyRefusals++;
      else metrics.dialFailures++;
      log.info("stream refused", { agent, target, reason: err.message });
      stream.reset(err.code, err.message);
      return;
    }
    if (stream.resetError) { // agent gave up while we dialed
      conn.close();
      return;
    }
    session.accept(stream);
    const r = await pipeBoth(conn, stream);
    log.debug("stream done", { agent, target, up: r.up, down: r.down, error: r.error?.message });
  }

  const prove = linkProver(deps.pems.cert, deps.pems.key);

  function onLink(sock: tls.TLSSocket): void {
    const agent = peerName(sock);
    const remote = `${sock.remoteAddress}:${sock.remotePort}`;
    if (stopping) {
      sock.destroy();
      return;
    }
    metrics.activeLinks++;
    metrics.linksTotal++;
    metrics.touch();
    log.info("link up", { agent, remote, alpn: sock.alpnProtocol || undefined });
    const session: Session = new Session(socketTransport(sock as unknown as Socket), {
      initiator: false,
      streamWindow: cfg.link.streamWindow,
      linkWindow: cfg.link.linkWindow,
      linkWindowMax: cfg.link.linkWindowMax,
      streamWindowMax: cfg.link.streamWindowMax,
      maxFrameSize: cfg.link.maxFrameSize,
      maxStreams: cfg.link.maxStreams,
      keepaliveIntervalMs: cfg.link.keepaliveIntervalMs,
      keepaliveTimeoutMs: cfg.link.keepaliveTimeoutMs,
      idleStreamTimeoutMs: cfg.link.idleStreamTimeoutMs,
      logger: log.child({ agent }),
      onStream: (s) => void handleStream(session, s, agent),
      proveIdentity: (nonce) => {
        const raw = sock.getPeerCertificate()?.raw;
        if (!raw) throw new Error("no client certificate on this link");
        return prove(nonce, new Uint8Array(raw));
      },
      onTraffic: (n, dir) => {
        if (dir === "in") metrics.bytesIn += n;
        else metrics.bytesOut += n;
        metrics.lastActivityMs = now();
      },
    });
    sessions.add(session);
    session.closed.then((end) => {
      sessions.delete(session);
      metrics.activeLinks--;
      metrics.touch();
      log.info("link down", { agent, remote, reason: end.error?.message ?? "closed" });
    });
  }

  const server = tls.createServer({
    cert: deps.pems.cert,
    key: deps.pems.key,
    ca: [deps.pems.ca],
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: "TLSv1.3",
    ALPNProtocols: cfg.tls.alpn ? [cfg.tls.alpn, "http/1.1"] : undefined,
  });
  server.on("secureConnection", onLink);
  server.on("tlsClientError", (err: Error, sock: tls.TLSSocket) => {
    metrics.handshakeFailures++;
    log.info("TLS handshake refused", {
      remote: sock?.remoteAddress ? `${sock.remoteAddress}:${sock.remotePort}` : undefined,
      error: err.message,
    });
  });
  server.on("error", (err: Error) => log.error("listener error", { error: err.message }));

  const { host, port } = parseHostPort(cfg.listen);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const a = server.address();
  const address = typeof a === "object" && a
    ? (a.address.includes(":") ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`)
    : cfg.listen;

  let health: HealthServer | undefined;
  if (cfg.healthListen) {
    health = await startHealthServer(cfg.healthListen, {
      "/healthz": () => json(metrics.health({ stopping, breakersOpen: breaker.openCount() })),
      "/metrics": () =>
        text(
          metrics.prometheus([
            ["fluidity_breakers_open", "gauge", "targets failing fast", breaker.openCount()],
            ...memoryRows("fluidity_server"),
          ]),
        ),
    }, log);
  }

  let shutdownPromise: Promise<void> | undefined;
  return {
    address,
    healthAddress: health?.address,
    metrics,
    shutdown(drainMs = cfg.drainTimeoutMs) {
      shutdownPromise ??= (async () => {
        stopping = true;
        server.close();
        for (const s of sessions) s.goAway(ResetCode.GOING_AWAY, "server shutting down");
        const streams = [...sessions].reduce((n, s) => n + s.streamCount, 0);
        if (streams > 0) log.info("draining", { streams, timeoutSeconds: drainMs / 1000 });
        const drained = await Promise.all([...sessions].map((s) => s.drain(drainMs)));
        if (drained.includes(false)) log.warn("drain timeout: closing streams still open");
        for (const s of sessions) s.close("server shut down");
        await health?.close();
      })();
      return shutdownPromise;
    },
  };
}
