/**
 * `GET /proxy.pac` on the agent's health address: a proxy auto-config file
 * that sends everything (or the configured domain patterns) to the agent's
 * HTTP proxy, then its SOCKS5 front when enabled, and keeps plain host names,
 * loopback and the configured exceptions `DIRECT`. The script uses only the
 * standard PAC helpers and never calls `dnsResolve`/`isResolvable`, so the
 * browser does no DNS lookup to decide (no leak, no stall).
 */
import type { Route } from "../health/health_server.ts";
import { ConfigError } from "../errors.ts";

export interface PacOptions {
  /** `host:port` of the HTTP proxy front. */
  proxy: string;
  /** `host:port` of the SOCKS5 front, when enabled. */
  socks?: string;
  /** Patterns sent through the agent; empty = every host. */
  proxyDomains: readonly string[];
  /** Patterns always DIRECT (suffixes, exact names, IPv4 CIDRs, shell patterns). */
  direct: readonly string[];
}

const PATTERN = /^[A-Za-z0-9*?._\-:\[\]/]+$/;

/** Throws `TypeError` for a pattern the PAC file could not express. */
export function checkPacPattern(p: string, key: string): void {
  if (!PATTERN.test(p)) {
    throw new TypeError(`${key}: ${JSON.stringify(p)} is not a host, suffix, pattern or CIDR`);
  }
  const cidr = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(p);
  if (cidr && Number(cidr[2]) > 32) throw new TypeError(`${key}: ${p}: prefix longer than 32`);
}

/** Checks `pac.proxy_domains` and `pac.direct`; throws `ConfigError`. */
export function checkPacConfig(o: { proxyDomains: readonly string[]; direct: readonly string[] }) {
  try {
    for (const p of o.proxyDomains) checkPacPattern(p, "pac.proxy_domains");
    for (const p of o.direct) checkPacPattern(p, "pac.direct");
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
}

function maskOf(bits: number): string {
  const m = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return [24, 16, 8, 0].map((s) => (m >>> s) & 255).join(".");
}

/** A JS boolean expression (ES5, PAC helpers only) testing `host` against one pattern. */
function matcher(p: string): string {
  const q = p.toLowerCase();
  const cidr = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(q);
  if (cidr) {
    return `(isV4 && isInNet(host, ${JSON.stringify(cidr[1])}, ${
      JSON.stringify(maskOf(Number(cidr[2])))
    }))`;
  }
  if (/[*?]/.test(q)) {
    // "*.example.com" also covers example.com itself, as people mean it.
    const bare = q.startsWith("*.") ? ` || host == ${JSON.stringify(q.slice(2))}` : "";
    return `(shExpMatch(host, ${JSON.stringify(q)})${bare})`;
  }
  if (q.startsWith(".")) {
    return `(dnsDomainIs(host, ${JSON.stringify(q)}) || host == ${JSON.stringify(q.slice(1))})`;
  }
  return `(host == ${JSON.stringify(q)} || dnsDomainIs(host, ${JSON.stringify("." + q)}))`;
}

function anyOf(patterns: readonly string[]): string {
  return patterns.length ? patterns.map(matcher).join(" ||\n      ") : "false";
}

/** The PAC script text. */
export function pacScript(o: PacOptions): string {
  const route = [`PROXY ${o.proxy}`, ...(o.socks ? [`SOCKS5 ${o.socks}`] : [])].join("; ");
  const only = o.proxyDomains.length ? `  if (!(${anyOf(o.proxyDomains)})) return "DIRECT";\n` : "";
  return `// Proxy auto-config from the Fluidity agent.
// Plain host names, loopback and the configured exceptions go DIRECT;
// ${
    o.proxyDomains.length ? "the configured domains go" : "everything else goes"
  } through the tunnel.
function FindProxyForURL(url, host) {
  host = String(host).toLowerCase();
  if (host.charAt(0) == "[") host = host.substring(1, host.length - 1);
  var isV4 = /^\\d+\\.\\d+\\.\\d+\\.\\d+$/.test(host);
  if (isPlainHostName(host) || host == "localhost" || dnsDomainIs(host, ".localhost") ||
      host == "::1" || (isV4 && isInNet(host, "127.0.0.0", "255.0.0.0"))) return "DIRECT";
  if (${anyOf(o.direct)}) return "DIRECT";
${only}  return ${JSON.stringify(route)};
}
`;
}

function isUnspecified(host: string): boolean {
  return host === "0.0.0.0" || host === "[::]" || host === "::";
}

/** Swaps an unspecified bind address (0.0.0.0) for the host the PAC file was fetched from. */
function reachable(address: string, req: Request): string {
  const m = /^(.*):(\d+)$/.exec(address);
  if (!m || !isUnspecified(m[1]!)) return address;
  const h = new URL(req.url).hostname;
  return `${h}:${m[2]}`;
}

/** The `/proxy.pac` route. */
export function pacRoute(o: PacOptions): Route {
  return (req) =>
    new Response(
      pacScript({
        ...o,
        proxy: reachable(o.proxy, req),
        socks: o.socks ? reachable(o.socks, req) : undefined,
      }),
      {
        headers: {
          "content-type": "application/x-ns-proxy-autoconfig",
          "cache-control": "no-cache",
        },
      },
    );
}
