/**
 * Dials the server: TLS 1.3 with the agent's certificate, then the session's
 * HELLO exchange and the server's identity proof (src/certs/link_proof.ts),
 * which pins the private CA and checks the server name.
 *
 * Direct links use Deno's own TLS (`Deno.connectTls`): it moves bulk data at
 * a fraction of `node:tls`'s CPU, but adds the private CA to the system roots
 * rather than replacing them and checks the name against the dialed address,
 * hence the proof. Through an upstream proxy the link needs TLS over an
 * existing socket with a client certificate, which only `node:tls` offers
 * (`Deno.startTls` sends no client certificate); that path trusts only the
 * private CA and checks the name in TLS as well.
 */
import * as tls from "node:tls";
import type { Socket } from "node:net";
import type { Logger } from "../log/logger.ts";
import type { LinkConfig } from "../config/server_config.ts";
import { Session, type Transport } from "../tunnel/session.ts";
import { socketTransport } from "../tunnel/socket_transport.ts";
import { connTransport } from "../tunnel/conn_transport.ts";
import { proofCheck } from "../certs/link_proof.ts";
import { ACK_PROBE_PAYLOAD, encodeFrame, FrameType } from "../tunnel/frames.ts";

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

/** A PING the server answers soon (src/tunnel/session.ts PROBE_ANSWER_MS); it matches no ping of ours. */
const NAGLE_PROBE = encodeFrame(FrameType.PING, 0, 0, ACK_PROBE_PAYLOAD);

function handshakeTimeout(addr: string, ms: number): LinkDialError {
  return new LinkDialError(
    `cannot reach the server at ${addr}: no TLS handshake within ${ms / 1000}s`,
  );
}

function tlsFailure(e: Error, addr: string, o: LinkDialOptions): LinkDialError {
  const msg = o.alpn && /NoApplicationProtocol|no.application.protocol/i.test(e.message)
    ? `the server at ${addr} refused the ALPN protocol "${o.alpn}": tls.alpn must be ` +
      `the same on the agent and the server (${e.message})`
    : describeTlsError(e, addr, o.serverName);
  return new LinkDialError(msg, false, { cause: e });
}

/** `p`, or a rejection with `onTimeout()` once `ms` passed. */
async function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(onTimeout()), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Direct: Deno's TLS, with the name left to the identity proof. */
async function denoTls(host: string, port: number, addr: string, o: LinkDialOptions) {
  const attempt = (async () => {
    const conn = await Deno.connectTls({
      hostname: host,
      port,
      caCerts: [o.pems.ca],
      cert: o.pems.cert,
      key: o.pems.key,
      alpnProtocols: o.alpn ? [o.alpn] : undefined,
      unsafelyDisableHostnameVerification: true,
    });
    try {
      await conn.handshake();
    } catch (e) {
      conn.close();
      throw e;
    }
    return conn;
  })();
  try {
    const ms = o.connectTimeoutMs;
    const conn = await withTimeout(attempt, ms, () => handshakeTimeout(addr, ms));
    return connTransport(conn, { ackProbe: NAGLE_PROBE });
  } catch (e) {
    attempt.then((late) => late.close(), () => {}); // a handshake that ends after the timeout
    if (e instanceof LinkDialError) throw e;
    throw tlsFailure(e as Error, addr, o);
  }
}

/** Through a supplied socket (upstream proxy): `node:tls`, pinned to the private CA. */
async function nodeTls(raw: Socket, host: string, port: number, addr: string, o: LinkDialOptions) {
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
      reject(handshakeTimeout(addr, o.connectTimeoutMs));
    }, o.connectTimeoutMs);
    s.once("secureConnect", () => {
      clearTimeout(timer);
      resolve(s);
    });
    s.once("error", (e: Error) => {
      clearTimeout(timer);
      s.destroy();
      reject(tlsFailure(e, addr, o));
    });
  });
  return socketTransport(sock as unknown as Socket);
}

/**
 * Opens one link to `host:port`; resolves once the server's HELLO arrived
 * and its identity proof passed.
 */
export async function dialLink(host: string, port: number, o: LinkDialOptions): Promise<Session> {
  const addr = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  const transport: Transport = o.socketFactory
    ? await nodeTls(await o.socketFactory(host, port), host, port, addr, o)
    : await denoTls(host, port, addr, o);
  const session = new Session(transport, {
    initiator: true,
    streamWindow: o.link.streamWindow,
    linkWindow: o.link.linkWindow,
    linkWindowMax: o.link.linkWindowMax,
    streamWindowMax: o.link.streamWindowMax,
    maxFrameSize: o.link.maxFrameSize,
    maxStreams: o.link.maxStreams,
    keepaliveIntervalMs: o.link.keepaliveIntervalMs,
    keepaliveTimeoutMs: o.link.keepaliveTimeoutMs,
    idleStreamTimeoutMs: o.link.idleStreamTimeoutMs,
    peerProof: proofCheck({
      caPem: o.pems.ca,
      serverName: o.serverName,
      agentCertPem: o.pems.cert,
    }),
    logger: o.logger,
  });
  try {
    await withTimeout(
      session.ready,
      o.connectTimeoutMs,
      () =>
        new LinkDialError(
          `the server at ${addr} sent no hello within ${o.connectTimeoutMs / 1000}s`,
        ),
    );
  } catch (e) {
    session.destroy(e as Error);
    const end = await session.closed;
    if (e instanceof LinkDialError) throw e;
    const err = end.error ?? (e as Error);
    if (err.name === "ProtocolVersionError") {
      throw new LinkDialError(err.message, true, { cause: err });
    }
    if (err.name === "ProofError") {
      throw new LinkDialError(
        `the server at ${addr} ${err.message}`,
        false,
        { cause: err },
      );
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
  }
  return session;
}
