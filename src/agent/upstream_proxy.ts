/**
 * Reaching the server through a corporate HTTP proxy: `CONNECT host:port`,
 * with Basic or NTLM credentials (NTLM messages from `@node-ntlm/core`: type
 * 1 → the proxy's 407 challenge → type 3, all on one connection). The proxy
 * comes from `upstream_proxy.url` or the standard `HTTPS_PROXY` environment,
 * with `NO_PROXY` honoured. Errors name the proxy (never its credentials) and
 * the authentication schemes it offered; the link manager retries them like
 * any other dial failure.
 */
import * as net from "node:net";
import { hostname } from "node:os";
import { Buffer } from "node:buffer";
import { lazySpecifier } from "../lazy_modules.ts";
import type { Logger } from "../log/logger.ts";
import { ConfigError } from "../errors.ts";
import { Reader } from "../http/reader.ts";
import {
  latin1ToBytes,
  parseResponseHead,
  responseFraming,
  type ResponseHead,
} from "../http/head.ts";
import { copyBody } from "../http/body.ts";

/** The NTLM message codec, loaded on first use (src/agent/ntlm.ts). */
function loadNtlm(): Promise<typeof import("./ntlm.ts")> {
  return import(lazySpecifier("./ntlm.ts", import.meta.url));
}

export type ProxyAuthMode = "auto" | "basic" | "ntlm";

/** A parsed upstream proxy. */
export interface UpstreamProxy {
  host: string;
  port: number;
  username?: string;
  password?: string;
  auth: ProxyAuthMode;
  /** NTLM domain (from `upstream_proxy.domain` or a `DOMAIN\user` name). */
  domain: string;
  /** `http://host:port` without credentials, for messages. */
  display: string;
  /** Where it came from, for the startup log line. */
  source: string;
}

/** The proxy refused or failed the CONNECT. Not fatal: the link manager retries. */
export class UpstreamProxyError extends Error {
  override name = "UpstreamProxyError";
  /** The proxy's status code, when it answered. */
  readonly status: number | undefined;
  /** Authentication schemes from its Proxy-Authenticate headers. */
  readonly offered: string[];
  constructor(message: string, status?: number, offered: string[] = [], options?: ErrorOptions) {
    super(message, options);
    this.status = status;
    this.offered = offered;
  }
}

/**
 * Parses `http://[user:password@]host[:port]` (percent-encoded credentials).
 * Throws `TypeError` saying what is wrong, never echoing the password.
 */
export function parseProxyUrl(
  text: string,
  o: { auth?: ProxyAuthMode; domain?: string; source?: string } = {},
): UpstreamProxy {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    throw new TypeError("expected a proxy URL like http://proxy.example.com:3128");
  }
  if (u.protocol !== "http:") {
    throw new TypeError(
      `proxy scheme ${u.protocol}// is not supported: Fluidity speaks plain http:// to the proxy ` +
        "(the link inside is TLS end to end)",
    );
  }
  if (!u.hostname) throw new TypeError("the proxy URL has no host");
  const host = u.hostname.replace(/^\[|\]$/g, "");
  const port = u.port ? Number(u.port) : 80;
  let username = u.username ? decodeURIComponent(u.username) : undefined;
  const password = u.password ? decodeURIComponent(u.password) : undefined;
  let domain = o.domain ?? "";
  if (username?.includes("\\")) {
    const i = username.indexOf("\\");
    if (!domain) domain = username.slice(0, i);
    username = username.slice(i + 1);
  }
  const hostText = host.includes(":") ? `[${host}]` : host;
  return {
    host,
    port,
    username,
    password,
    auth: o.auth ?? "auto",
    domain,
    display: `http://${hostText}:${port}`,
    source: o.source ?? "upstream_proxy.url",
  };
}

function ipv4ToInt(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

/**
 * Whether `host:port` bypasses the proxy under a NO_PROXY list (comma or
 * space separated): `*`, exact hosts, domain suffixes (`.corp` or `corp`
 * matching `x.corp`), IPv4 CIDRs, optional `:port`.
 */
export function noProxyMatches(
  noProxy: string | readonly string[],
  host: string,
  port: number,
): boolean {
  const list = typeof noProxy === "string" ? noProxy.split(/[\s,]+/) : noProxy;
  const h = host.toLowerCase().replace(/^\[|\]$/g, "").replace(/\.$/, "");
  for (const raw of list) {
    let e = raw.trim().toLowerCase();
    if (!e) continue;
    if (e === "*") return true;
    let portPart: string | undefined;
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(e);
    if (bracketed) [e, portPart] = [bracketed[1]!, bracketed[2]];
    else if (e.split(":").length === 2) [e, portPart] = e.split(":") as [string, string];
    // (more than one colon: a bare IPv6 address, no port)
    if (portPart !== undefined && portPart !== "" && Number(portPart) !== port) continue;
    e = e.replace(/^\*?\./, ".");
    const cidr = /^([\d.]+)\/(\d{1,2})$/.exec(e);
    if (cidr) {
      const net = ipv4ToInt(cidr[1]!);
      const ip = ipv4ToInt(h);
      const bits = Number(cidr[2]);
      if (net === undefined || ip === undefined || bits > 32) continue;
      const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
      if (((ip & mask) >>> 0) === ((net & mask) >>> 0)) return true;
      continue;
    }
    if (e.startsWith(".")) {
      if (h.endsWith(e) || h === e.slice(1)) return true;
    } else if (h === e || h.endsWith(`.${e}`)) return true;
  }
  return false;
}

export interface UpstreamSettings {
  /** `upstream_proxy.url`: empty = from the environment, `none` = never. */
  url: string;
  auth: ProxyAuthMode;
  domain: string;
  noProxy: readonly string[];
}

/**
 * Picks the proxy for the link from the settings, or from `https_proxy` /
 * `HTTPS_PROXY` (lower case first, as curl does) when `url` is empty.
 * Returns a router: the proxy for a server `host:port`, or undefined for a
 * direct connection. Throws `TypeError` naming the source on a bad URL.
 */
export function upstreamProxyRouter(
  s: UpstreamSettings,
  env: Record<string, string | undefined>,
):
  | { proxy: UpstreamProxy; route(host: string, port: number): UpstreamProxy | undefined }
  | undefined {
  if (s.url.toLowerCase() === "none") return undefined;
  let proxy: UpstreamProxy;
  let envNoProxy = "";
  if (s.url) {
    proxy = parseProxyUrl(s.url, { auth: s.auth, domain: s.domain });
  } else {
    const name = env["https_proxy"] ? "https_proxy" : env["HTTPS_PROXY"] ? "HTTPS_PROXY" : "";
    if (!name) return undefined;
    try {
      proxy = parseProxyUrl(env[name]!, { auth: s.auth, domain: s.domain, source: name });
    } catch (e) {
      throw new TypeError(`environment ${name}: ${(e as Error).message}`);
    }
    envNoProxy = env["no_proxy"] || env["NO_PROXY"] || "";
  }
  const fromEnv = !s.url;
  return {
    proxy,
    route(host, port) {
      if (noProxyMatches(s.noProxy, host, port)) return undefined;
      if (fromEnv && noProxyMatches(envNoProxy, host, port)) return undefined;
      return proxy;
    },
  };
}

/** Auth schemes named in Proxy-Authenticate header values (`Basic realm="a, b", NTLM` → Basic, NTLM). */
export function offeredSchemes(values: readonly string[]): string[] {
  const out: string[] = [];
  for (const v of values) {
    // Split on commas outside quoted strings.
    const parts: string[] = [];
    let cur = "";
    let quoted = false;
    for (let i = 0; i < v.length; i++) {
      const ch = v[i]!;
      if (ch === '"' && v[i - 1] !== "\\") quoted = !quoted;
      if (ch === "," && !quoted) {
        parts.push(cur);
        cur = "";
      } else cur += ch;
    }
    parts.push(cur);
    for (const p of parts) {
      const m = /^\s*([A-Za-z0-9!#$%&'*+.^_`|~-]+)(?=\s|$)/.exec(p);
      if (m && !/^\s*[^\s=]+\s*=/.test(p)) {
        if (!out.some((s) => s.toLowerCase() === m[1]!.toLowerCase())) out.push(m[1]!);
      }
    }
  }
  return out;
}

function headerValues(res: ResponseHead, name: string): string[] {
  return res.headers.filter((h) => h.name === name).map((h) => h.value);
}

/** A pull source over a node socket that never reads ahead more than one chunk. */
function socketReader(sock: net.Socket): { reader: Reader; detach(): Uint8Array[] } {
  const queue: Uint8Array[] = [];
  let ended = false;
  let error: Error | undefined;
  let wake: (() => void) | undefined;
  const onData = (b: Buffer) => {
    queue.push(new Uint8Array(b.buffer, b.byteOffset, b.length));
    sock.pause();
    wake?.();
  };
  const onEnd = () => {
    ended = true;
    wake?.();
  };
  const onError = (e: Error) => {
    error = e;
    wake?.();
  };
  sock.on("data", onData);
  sock.on("end", onEnd);
  sock.on("close", onEnd);
  sock.on("error", onError);
  sock.pause();
  const reader = new Reader(async () => {
    while (queue.length === 0 && !ended && !error) {
      sock.resume();
      await new Promise<void>((r) => (wake = r));
      wake = undefined;
    }
    if (queue.length) return queue.shift()!;
    if (error) throw error;
    return null;
  });
  return {
    reader,
    detach() {
      sock.off("data", onData);
      sock.off("end", onEnd);
      sock.off("close", onEnd);
      sock.off("error", onError);
      return queue.splice(0);
    },
  };
}

interface ProxyConn {
  sock: net.Socket;
  reader: Reader;
  detach(): Uint8Array[];
}

interface Exchange {
  res: ResponseHead;
  /** The proxy keeps this connection for another request. */
  reusable: boolean;
}

function describeSocketError(e: Error & { code?: string }): string {
  switch (e.code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ECONNRESET":
      return "connection reset";
    case "ETIMEDOUT":
      return "timed out";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "name not found";
    default:
      return e.message;
  }
}

export interface ProxyConnectOptions {
  /** Bounds the whole exchange (TCP connect, authentication rounds). */
  timeoutMs: number;
  logger?: Logger;
  /** NTLM workstation name; default: this host's name. */
  workstation?: string;
}

function workstationName(): string {
  try {
    return hostname().split(".")[0]!.toUpperCase();
  } catch {
    return "FLUIDITY";
  }
}

/**
 * Opens a TCP connection to `proxy`, asks it to `CONNECT host:port`,
 * authenticating as needed, and resolves with the socket positioned at the
 * first byte from the server (ready for `tls.connect({ socket })`). The
 * socket is handed over paused, with any bytes read past the proxy's answer
 * pushed back, so nothing is lost before its new owner reads.
 */
export async function connectViaProxy(
  proxy: UpstreamProxy,
  host: string,
  port: number,
  o: ProxyConnectOptions,
): Promise<net.Socket> {
  const target = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  const p = proxy.display;
  const live = new Set<net.Socket>();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    for (const s of live) s.destroy();
  }, o.timeoutMs);
  const fail = (msg: string, status?: number, offered: string[] = [], cause?: unknown) =>
    new UpstreamProxyError(`upstream proxy ${p}: ${msg}`, status, offered, { cause });

  const open = (): Promise<ProxyConn> =>
    new Promise((resolve, reject) => {
      const sock = net.connect({ host: proxy.host, port: proxy.port });
      live.add(sock);
      sock.once("error", (e: Error) => {
        reject(fail(`cannot reach the proxy: ${describeSocketError(e)}`, undefined, [], e));
      });
      sock.once("close", () => reject(fail("cannot reach the proxy: connection closed")));
      sock.once("connect", () => {
        sock.setNoDelay(true);
        resolve({ sock, ...socketReader(sock) });
      });
    });

  const exchange = async (c: ProxyConn, authorization?: string): Promise<Exchange> => {
    let head = `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n`;
    if (authorization) head += `Proxy-Authorization: ${authorization}\r\n`;
    head += "Proxy-Connection: keep-alive\r\n\r\n";
    await new Promise<void>((resolve, reject) =>
      c.sock.write(latin1ToBytes(head), (e) => (e ? reject(e) : resolve()))
    );
    const bytes = await c.reader.readHead(64 * 1024);
    if (bytes === null) throw new Error("the proxy closed the connection without an answer");
    const res = parseResponseHead(bytes);
    if (res.status >= 200 && res.status < 300) return { res, reusable: true };
    const framing = responseFraming(res, "GET");
    await copyBody(c.reader, framing, () => Promise.resolve());
    const proxyConn = headerValues(res, "proxy-connection").join(",").toLowerCase();
    const reusable = framing.kind !== "close" && !res.connection.has("close") &&
      !proxyConn.includes("close") &&
      (res.version === "HTTP/1.1" || res.connection.has("keep-alive") ||
        proxyConn.includes("keep-alive"));
    return { res, reusable };
  };

  const creds = proxy.username !== undefined && proxy.password !== undefined;
  const basic = () =>
    "Basic " + Buffer.from(`${proxy.username}:${proxy.password}`, "utf8").toString("base64");
  const ws = o.workstation ?? workstationName();
  const statusText = (res: ResponseHead) => res.statusLine.replace(/^HTTP\/\d\.\d /, "");
  const offersText = (offered: string[]) =>
    offered.length ? `it offers ${offered.join(", ")}` : "it offers no scheme";

  let conn: ProxyConn | undefined;
  try {
    let scheme: "none" | "basic" | "ntlm" = !creds
      ? "none"
      : proxy.auth === "basic"
      ? "basic"
      : proxy.auth === "ntlm"
      ? "ntlm"
      : "none";
    for (let round = 0; round < 3; round++) {
      conn ??= await open();
      let ex: Exchange;
      if (scheme === "ntlm") {
        const { createType1Message, createType3Message, parseType2Message } = await loadNtlm();
        ex = await exchange(conn, createType1Message({ domain: proxy.domain, workstation: ws }));
        const challenge = headerValues(ex.res, "proxy-authenticate").find((v) =>
          /^NTLM\s+\S/i.test(v)
        );
        if (ex.res.status === 407 && challenge) {
          if (!ex.reusable) {
            throw fail("closed the connection in the middle of the NTLM handshake", 407, ["NTLM"]);
          }
          const type3 = createType3Message(parseType2Message(challenge.replace(/^ntlm/i, "NTLM")), {
            domain: proxy.domain,
            workstation: ws,
            username: proxy.username!,
            password: proxy.password!,
          });
          ex = await exchange(conn, type3);
          if (ex.res.status === 407) {
            const offered = offeredSchemes(headerValues(ex.res, "proxy-authenticate"));
            throw fail(
              `rejected the NTLM credentials of user ${
                JSON.stringify((proxy.domain ? proxy.domain + "\\" : "") + proxy.username)
              } (${statusText(ex.res)}; ${offersText(offered)})`,
              407,
              offered,
            );
          }
        }
      } else {
        ex = await exchange(conn, scheme === "basic" ? basic() : undefined);
      }
      const res = ex.res;
      if (res.status >= 200 && res.status < 300) {
        const rest = conn.detach();
        const pending: Uint8Array[] = [];
        while (conn.reader.buffered > 0) pending.push((await conn.reader.chunk())!);
        for (const b of [...pending, ...rest].reverse()) conn.sock.unshift(Buffer.from(b));
        live.delete(conn.sock);
        o.logger?.debug("upstream proxy connected", { proxy: p, target, auth: scheme });
        return conn.sock;
      }
      if (res.status !== 407) {
        throw fail(`refused CONNECT to ${target}: ${statusText(res)}`, res.status);
      }
      const offered = offeredSchemes(headerValues(res, "proxy-authenticate"));
      if (scheme === "basic") {
        throw fail(
          `rejected the Basic credentials of user ${JSON.stringify(proxy.username)} ` +
            `(${statusText(res)}; ${offersText(offered)})`,
          407,
          offered,
        );
      }
      const has = (s: string) => offered.some((x) => x.toLowerCase() === s);
      const speaks = ["ntlm", "basic"].filter((s) =>
        has(s) && (proxy.auth === "auto" || proxy.auth === s)
      );
      if (speaks.length === 0) {
        const supported = proxy.auth === "auto"
          ? "Basic and NTLM"
          : proxy.auth === "ntlm"
          ? "NTLM (upstream_proxy.auth)"
          : "Basic (upstream_proxy.auth)";
        throw fail(
          `requires authentication with ${offered.join(", ") || "an unnamed scheme"}, ` +
            `which Fluidity does not speak here (it speaks ${supported})`,
          407,
          offered,
        );
      }
      if (!creds) {
        throw fail(
          `requires authentication (${offersText(offered)}); give credentials in ` +
            "upstream_proxy.url (http://USER:PASSWORD@host:port) or HTTPS_PROXY",
          407,
          offered,
        );
      }
      if (scheme === "ntlm") {
        throw fail(
          `did not answer the NTLM negotiation with a challenge (${offersText(offered)})`,
          407,
          offered,
        );
      }
      // NTLM first: it never sends the password itself.
      scheme = speaks[0] as "ntlm" | "basic";
      if (!ex.reusable) {
        conn.sock.destroy();
        live.delete(conn.sock);
        conn = undefined;
      }
    }
    throw fail("authentication did not complete");
  } catch (e) {
    for (const s of live) s.destroy();
    if (timedOut) {
      throw fail(`no answer within ${o.timeoutMs / 1000}s`, undefined, [], e);
    }
    if (e instanceof UpstreamProxyError) throw e;
    throw fail((e as Error).message, undefined, [], e);
  } finally {
    clearTimeout(timer);
  }
}

/** A direct TCP connection, with the same error style as the proxy path. */
function connectDirect(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const addr = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
    const sock = net.connect({ host, port });
    const t = setTimeout(() => {
      sock.destroy();
      reject(new Error(`cannot reach the server at ${addr}: timed out`));
    }, timeoutMs);
    sock.once("error", (e: Error) => {
      clearTimeout(t);
      reject(new Error(`cannot reach the server at ${addr}: ${describeSocketError(e)}`));
    });
    sock.once("connect", () => {
      clearTimeout(t);
      sock.setNoDelay(true);
      resolve(sock);
    });
  });
}

/**
 * The agent's `socketFactory`: through the proxy the router picks for each
 * server address, or direct.
 */
export function proxySocketFactory(
  router: { route(host: string, port: number): UpstreamProxy | undefined },
  o: ProxyConnectOptions,
): (host: string, port: number) => Promise<net.Socket> {
  return (host, port) => {
    const proxy = router.route(host, port);
    return proxy ? connectViaProxy(proxy, host, port, o) : connectDirect(host, port, o.timeoutMs);
  };
}

/**
 * The link's socket factory from `upstream_proxy.*` and the environment, or
 * undefined for direct connections. Logs which proxy is used (never its
 * credentials). Throws `ConfigError` for a bad proxy URL.
 */
export function upstreamSocketFactory(
  s: UpstreamSettings,
  env: Record<string, string | undefined>,
  o: ProxyConnectOptions & { logger: Logger },
): ((host: string, port: number) => Promise<net.Socket>) | undefined {
  let router;
  try {
    router = upstreamProxyRouter(s, env);
  } catch (e) {
    const msg = (e as Error).message;
    throw new ConfigError(
      msg.startsWith("environment ") ? msg : `upstream_proxy.url (--upstream-proxy): ${msg}`,
    );
  }
  if (!router) return undefined;
  const p = router.proxy;
  o.logger.info("the link goes through an upstream proxy", {
    proxy: p.display,
    from: p.source,
    auth: p.username !== undefined ? p.auth : "none",
    user: p.username,
  });
  return proxySocketFactory(router, o);
}
