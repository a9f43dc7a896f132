/**
 * Dials the server: TCP (optionally through a socket factory, e.g. an
 * upstream proxy), TLS 1.3 with the agent's certificate, trusting only the
 * private CA and checking the server name, then the session HELLO exchange.
 */
import * as tls from "node:tls";
import type { Socket } from "node:net";
import type { Logger } from "../log/logger.ts";
import type { LinkConfig } from "../config/server_config.ts";
import { Session } from "../tunnel/session.ts";
import { socketTransport } from "../tunnel/socket_transport.ts";

export interface AgentPems {
  cert: string;
  key: string;
  ca: string;
}

export interface LinkDialOptions {
  serverName: string;
  pems: AgentPems;
  alpn?: string;
  connectTimeoutMs: number;
  link: LinkConfig;
  logger: Logger;
  /** Supplies an already-connected socket (upstream proxy); default: direct TCP. */
  socketFactory?: (host: string, port: number) => Promise<Socket>;
}

/** The link could not be set up; `fatal` errors should not be retried. */
export class LinkDialError extends Error {
  override name = "LinkDialError";
  readonly fatal: boolean;
  constructor(message: string, fatal = false, options?: ErrorOptions) {
    super(message, options);
    this.fatal = fatal;
  }
}

const CERT_REJECTED_HINT = "the server most likely rejected this agent's certificate " +
  "(it must be signed by the server's CA, unexpired, with the clientAuth usage)";

function describeTlsError(e: Error & { code?: string }, addr: string, serverName: string): string {
  const code = e.code ?? "";
  if (code === "ECONNREFUSED") return `cannot reach the server at ${addr}: connection refused`;
  if (code === "ETIMEDOUT") return `cannot reach the server at ${addr}: timed out`;
  if (code === "EHOSTUNREACH" || code === "ENETUNREACH") {
    return `cannot reach the server at ${addr}: unreachable`;
  }
  if (
    code === "ECONNRESET" ||
    /alert|certificate required/i.test(e.message) && !/verify|self.signed|issuer/i.test(e.message)
  ) {
    return `the server at ${addr} closed the TLS handshake: ${CERT_REJECTED_HINT} (${e.message})`;
  }
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
    return `the server at ${addr} presented a certificate not issued for "${serverName}" (check --server-name): ${e.message}`;
  }
  if (/CERT|SIGNATURE|ISSUER|SELF_SIGNED|verify/i.test(code + " " + e.message)) {
    return `the server at ${addr} presented a certificate this agent does not trust ` +
      `(not signed by the private CA in tls.ca?): ${e.message}`;
  }
  return `TLS connection to ${addr} failed: ${e.message}`;
}

/** Opens one link to `host:port`; resolves once the server's HELLO arrived. */
export async function dialLink(host: string, port: number, o: LinkDialOptions): Promise<Session> {
  const addr = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  const raw = o.socketFactory ? await o.socketFactory(host, port) : undefined;
  const sock = await new Promise<tls.TLSSocket>((resolve, reject) => {
    const s = tls.connect({
      host,
      port,
      socket: raw,
      servername: o.serverName,
      ca: [o.pems.ca],
      cert: o.pems.cert,
      key: o.pems.key,
      minVersion: "TLSv1.3",
      maxVersion: "TLSv1.3",
      ALPNProtocols: o.alpn ? [o.alpn] : undefined,
      rejectUnauthorized: true,
    });
    const timer = setTimeout(() => {
      s.destroy();
      reject(
        new LinkDialError(
          `cannot reach the server at ${addr}: no TLS handshake within ${
            o.connectTimeoutMs / 1000
          }s`,
        ),
      );
    }, o.connectTimeoutMs);
    s.once("secureConnect", () => {
      clearTimeout(timer);
      resolve(s);
    });
    s.once("error", (e: Error) => {
      clearTimeout(timer);
      s.destroy();
      const msg = o.alpn && /NoApplicationProtocol|no.application.protocol/i.test(e.message)
        ? `the server at ${addr} refused the ALPN protocol "${o.alpn}": tls.alpn must be ` +
          `the same on the agent and the server (${e.message})`
        : describeTlsError(e, addr, o.serverName);
      reject(new LinkDialError(msg, false, { cause: e }));
    });
  });
  const session = new Session(socketTransport(sock as unknown as Socket), {
    initiator: true,
    streamWindow: o.link.streamWindow,
    linkWindow: o.link.linkWindow,
    maxFrameSize: o.link.maxFrameSize,
    maxStreams: o.link.maxStreams,
    keepaliveIntervalMs: o.link.keepaliveIntervalMs,
    keepaliveTimeoutMs: o.link.keepaliveTimeoutMs,
    idleStreamTimeoutMs: o.link.idleStreamTimeoutMs,
    logger: o.logger,
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      session.ready,
      new Promise((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new LinkDialError(
                `the server at ${addr} sent no hello within ${o.connectTimeoutMs / 1000}s`,
              ),
            ),
          o.connectTimeoutMs,
        );
      }),
    ]);
  } catch (e) {
    session.destroy(e as Error);
    const end = await session.closed;
    if (e instanceof LinkDialError) throw e;
    const err = end.error ?? (e as Error);
    if (err.name === "ProtocolVersionError") {
      throw new LinkDialError(err.message, true, { cause: err });
    }
    if (!end.helloReceived) {
      throw new LinkDialError(
        `the server at ${addr} closed the link before its hello: ${CERT_REJECTED_HINT}`,
        false,
        {
          cause: err,
        },
      );
    }
    throw new LinkDialError(`link to ${addr} failed: ${err.message}`, false, { cause: err });
  } finally {
    clearTimeout(timer);
  }
  return session;
}
