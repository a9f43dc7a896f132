/**
 * The agent's SOCKS5 front (RFC 1928, with RFC 1929 username/password when
 * credentials are configured). Only CONNECT is served: IPv4, IPv6 and domain
 * targets, the domain passed to the server unresolved so DNS never leaks on
 * the workstation. BIND and UDP ASSOCIATE get reply 0x07.
 *
 * Reset codes of the tunnel map to SOCKS replies as follows (see
 * {@linkcode socksReplyForReset}): refused → 0x05, forbidden by the server's
 * policy → 0x02, unreachable / DNS failure / dial timeout / open circuit
 * breaker → 0x04 (host unreachable; 0x06 "TTL expired" is an IP-layer notion
 * and would mislead), no tunnel and everything else → 0x01.
 */
import type { Logger } from "../log/logger.ts";
import { ResetCode, resetCodeName } from "../tunnel/frames.ts";
import { StreamResetError, type TunnelStream } from "../tunnel/stream.ts";
import { copyStreamToConn, writeAll } from "../tunnel/pipe.ts";
import { connSource, Reader } from "../http/reader.ts";
import { listenTcp } from "../net/listen.ts";
import type { OpenStream } from "./link_manager.ts";

/** SOCKS5 reply codes (RFC 1928 §6). */
export const SocksReply = {
  SUCCEEDED: 0x00,
  GENERAL_FAILURE: 0x01,
  NOT_ALLOWED: 0x02,
  NETWORK_UNREACHABLE: 0x03,
  HOST_UNREACHABLE: 0x04,
  CONNECTION_REFUSED: 0x05,
  TTL_EXPIRED: 0x06,
  COMMAND_NOT_SUPPORTED: 0x07,
  ADDRESS_TYPE_NOT_SUPPORTED: 0x08,
} as const;

const NO_AUTH = 0x00;
const USER_PASS = 0x02;
const NO_ACCEPTABLE = 0xff;

/** The SOCKS reply for a tunnel stream reset code. */
export function socksReplyForReset(code: number): number {
  switch (code) {
    case ResetCode.REFUSED:
      return SocksReply.CONNECTION_REFUSED;
    case ResetCode.FORBIDDEN:
      return SocksReply.NOT_ALLOWED;
    case ResetCode.UNREACHABLE:
    case ResetCode.DNS:
    case ResetCode.TIMEOUT:
    case ResetCode.BREAKER_OPEN:
      return SocksReply.HOST_UNREACHABLE;
    default:
      return SocksReply.GENERAL_FAILURE;
  }
}

/** A reply with an all-zero IPv4 bound address (the server's local address is not known here). */
export function socksReply(code: number): Uint8Array {
  return new Uint8Array([5, code, 0, 1, 0, 0, 0, 0, 0, 0]);
}

/** Bad input on the SOCKS port: `reply` is sent (when set) and the connection closed. */
export class SocksProtocolError extends Error {
  override name = "SocksProtocolError";
  readonly reply: Uint8Array | undefined;
  constructor(message: string, reply?: Uint8Array) {
    super(message);
    this.reply = reply;
  }
}

/** The client went away before finishing its handshake. */
class ClientGone extends Error {
  override name = "ClientGone";
}

async function readExact(r: Reader, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const c = await r.chunk(n - got);
    if (c === null) throw new ClientGone(`connection closed after ${got} of ${n} bytes`);
    out.set(c, got);
    got += c.length;
  }
  return out;
}

async function readByte(r: Reader): Promise<number> {
  return (await readExact(r, 1))[0]!;
}

/** RFC 5952 text of a 16-byte IPv6 address (longest zero run compressed). */
export function formatIpv6(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

const HOSTNAME = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_.])?$/;
const IPV6_TEXT = /^[0-9A-Fa-f:.]+$/;

/**
 * Reads the greeting (and the RFC 1929 sub-negotiation when `authenticate`
 * is set), answering both. Throws {@linkcode SocksProtocolError} on bad
 * input, with the reply to send first.
 */
export async function socksGreeting(
  r: Reader,
  write: (b: Uint8Array) => Promise<void>,
  authenticate?: (user: string, password: string) => boolean,
): Promise<{ user?: string }> {
  const ver = await readByte(r);
  if (ver === 4) {
    // A SOCKS4 client: answer in its own terms ("request rejected") so it says something useful.
    throw new SocksProtocolError(
      "SOCKS4 is not supported",
      new Uint8Array([0, 0x5b, 0, 0, 0, 0, 0, 0]),
    );
  }
  if (ver !== 5) throw new SocksProtocolError(`not SOCKS5: first byte 0x${hex(ver)}`);
  const n = await readByte(r);
  const methods = n === 0 ? new Uint8Array(0) : await readExact(r, n);
  const want = authenticate ? USER_PASS : NO_AUTH;
  if (!methods.includes(want)) {
    throw new SocksProtocolError(
      authenticate
        ? "the client does not offer username/password authentication, which this proxy requires"
        : "the client offers no method this proxy accepts (no authentication)",
      new Uint8Array([5, NO_ACCEPTABLE]),
    );
  }
  await write(new Uint8Array([5, want]));
  if (!authenticate) return {};
  const sub = await readByte(r);
  if (sub !== 1) {
    throw new SocksProtocolError(
      `bad authentication sub-negotiation version 0x${hex(sub)}`,
      new Uint8Array([1, 1]),
    );
  }
  const dec = new TextDecoder();
  const user = dec.decode(await readExact(r, await readByte(r)));
  const password = dec.decode(await readExact(r, await readByte(r)));
  if (!authenticate(user, password)) {
    throw new SocksProtocolError(
      `authentication failed for user ${JSON.stringify(user)}`,
      new Uint8Array([1, 1]),
    );
  }
  await write(new Uint8Array([1, 0]));
  return { user };
}

/**
 * Reads a request and returns the CONNECT target as `host:port` (IPv6
 * bracketed, domains unresolved). Throws {@linkcode SocksProtocolError} with
 * the reply for anything else.
 */
export async function socksConnectTarget(r: Reader): Promise<string> {
  const [ver, cmd, _rsv, atyp] = await readExact(r, 4);
  if (ver !== 5) {
    throw new SocksProtocolError(
      `request with version 0x${hex(ver!)}`,
      socksReply(SocksReply.GENERAL_FAILURE),
    );
  }
  let host: string;
  let bad: string | undefined;
  switch (atyp) {
    case 1:
      host = Array.from(await readExact(r, 4)).join(".");
      break;
    case 4:
      host = formatIpv6(await readExact(r, 16));
      break;
    case 3: {
      const len = await readByte(r);
      const raw = await readExact(r, len);
      host = new TextDecoder("latin1").decode(raw);
      if (len === 0) bad = "empty domain name";
      else if (IPV6_TEXT.test(host) && host.includes(":")) break; // an IPv6 literal sent as a name
      else if (len > 253) bad = `domain name of ${len} bytes (at most 253)`;
      else if (!HOSTNAME.test(host)) {
        bad = `invalid domain name ${JSON.stringify(host.slice(0, 64))}`;
      }
      break;
    }
    default:
      throw new SocksProtocolError(
        `address type 0x${hex(atyp!)}`,
        socksReply(SocksReply.ADDRESS_TYPE_NOT_SUPPORTED),
      );
  }
  const pb = await readExact(r, 2);
  const port = (pb[0]! << 8) | pb[1]!;
  if (cmd !== 1) {
    const name = cmd === 2 ? "BIND" : cmd === 3 ? "UDP ASSOCIATE" : `command 0x${hex(cmd!)}`;
    throw new SocksProtocolError(
      `${name} is not supported (CONNECT only)`,
      socksReply(SocksReply.COMMAND_NOT_SUPPORTED),
    );
  }
  if (bad) throw new SocksProtocolError(bad, socksReply(SocksReply.HOST_UNREACHABLE));
  if (port === 0) throw new SocksProtocolError("port 0", socksReply(SocksReply.GENERAL_FAILURE));
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

function hex(n: number): string {
  return n.toString(16).padStart(2, "0");
}

export interface Socks5Options {
  /** Opens a tunnel stream to `host:port` (src/agent/link_manager.ts {@linkcode OpenStream}). */
  openStream: OpenStream;
  /** How long the server may take to reach the target. */
  openTimeoutMs: number;
  /** Greeting, authentication and request must arrive within this time. */
  handshakeTimeoutMs: number;
  maxConnections: number;
  logger: Logger;
  /** RFC 1929 check; when set, clients must authenticate with username/password. */
  authenticate?: (user: string, password: string) => boolean;
}

export interface Socks5Front {
  address: string;
  /** Client connections open now. */
  readonly connections: number;
  close(): Promise<void>;
}

/** Closes after our last bytes reached the client: FIN first, then drain briefly so no RST eats them. */
async function lingerClose(conn: Deno.TcpConn, r: Reader): Promise<void> {
  await conn.closeWrite().catch(() => {});
  const t = setTimeout(() => {
    try {
      conn.close();
    } catch { /* closed */ }
  }, 1000);
  try {
    let n = 0;
    for (let c = await r.chunk(); c !== null && n < 65536; c = await r.chunk()) n += c.length;
  } catch { /* reset or closed */ }
  clearTimeout(t);
  try {
    conn.close();
  } catch { /* closed */ }
}

async function serveClient(conn: Deno.TcpConn, o: Socks5Options, log: Logger): Promise<void> {
  const r = new Reader(connSource(conn));
  const send = (b: Uint8Array) => writeAll(conn, b);
  let target: string | undefined;
  let stream: TunnelStream | undefined;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      conn.close();
    } catch { /* closed */ }
  }, o.handshakeTimeoutMs);
  try {
    try {
      await socksGreeting(r, send, o.authenticate);
      target = await socksConnectTarget(r);
    } finally {
      clearTimeout(timer);
    }
    try {
      stream = await o.openStream(target);
      const s = stream;
      const t = setTimeout(() => {
        if (!s.isOpen) {
          s.reset(
            ResetCode.TIMEOUT,
            `the server did not reach ${target} within ${o.openTimeoutMs / 1000}s`,
          );
        }
      }, o.openTimeoutMs);
      try {
        await s.opened;
      } finally {
        clearTimeout(t);
      }
    } catch (e) {
      const code = e instanceof StreamResetError
        ? socksReplyForReset(e.code)
        : SocksReply.GENERAL_FAILURE;
      const reason = e instanceof StreamResetError ? resetCodeName(e.code) : "no-tunnel";
      log.info("socks connect failed", {
        target,
        reply: code,
        reason,
        error: e instanceof StreamResetError ? e.reason : (e as Error).message,
      });
      throw new SocksProtocolError((e as Error).message, socksReply(code));
    }
    await send(socksReply(SocksReply.SUCCEEDED));
    await pipe(conn, r, stream);
    stream = undefined; // finished (or already reset by the pipe)
  } catch (e) {
    if (timedOut) {
      log.debug("socks handshake timed out", { afterMs: o.handshakeTimeoutMs });
      return;
    }
    if (e instanceof SocksProtocolError) {
      if (target === undefined) log.debug("socks request rejected", { error: e.message });
      if (e.reply) await send(e.reply).catch(() => {});
      await lingerClose(conn, r);
      return;
    }
    if (!(e instanceof ClientGone)) {
      log.debug("socks client error", { target, error: (e as Error).message });
    }
  } finally {
    stream?.reset(ResetCode.CANCEL, "client done");
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

/** Bytes both ways until both sides finish (half-close passed on); any error tears both down. */
async function pipe(conn: Deno.TcpConn, r: Reader, stream: TunnelStream): Promise<void> {
  const fail = (e: unknown) => {
    if (!(e instanceof StreamResetError)) {
      stream.reset(ResetCode.CONN_RESET, `client connection error: ${(e as Error)?.message}`);
    }
    try {
      conn.close();
    } catch { /* closed */ }
  };
  const upward = (async () => {
    for (let c = await r.chunk(); c !== null; c = await r.chunk()) await stream.write(c);
    stream.closeWrite();
  })().catch(fail);
  const downward = copyStreamToConn(stream, conn).catch(fail);
  await Promise.all([upward, downward]);
}

/** Starts the SOCKS5 listener. */
export function startSocks5(listen: string, o: Socks5Options): Socks5Front {
  const live = new Set<Deno.TcpConn>();
  const front = listenTcp(listen, o.logger, (conn, peer) => {
    if (live.size >= o.maxConnections) {
      try {
        conn.close();
      } catch { /* closed */ }
      return;
    }
    live.add(conn);
    const log = o.logger.child({ client: peer, front: "socks5" });
    serveClient(conn, o, log)
      .catch((e) => log.warn("socks handler failed", { error: String(e) }))
      .finally(() => live.delete(conn));
  });
  const address = front.address;

  return {
    address,
    get connections() {
      return live.size;
    },
    close() {
      front.stop();
      for (const c of live) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      live.clear();
      return Promise.resolve();
    },
  };
}
