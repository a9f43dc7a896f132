/**
 * Destination policy: which `host:port` targets the server may dial. Checked
 * twice: on the name and port before resolving (allow/deny patterns, ports),
 * and on every resolved address (so a DNS name pointing at 127.0.0.1 or the
 * cloud metadata address is refused too).
 */
import { isIP } from "node:net";

export interface PolicyOptions {
  /** Let streams reach loopback, private, link-local, … addresses. */
  allowPrivateTargets: boolean;
  /** When non-empty, only hosts matching one of these (`example.com`, `*.example.com`). */
  allowHosts: readonly string[];
  /** Hosts never dialed. */
  denyHosts: readonly string[];
  /** When non-empty, only these ports or ranges (`443`, `8000-8100`). */
  allowPorts: readonly string[];
}

export type AddressClass =
  | "public"
  | "loopback"
  | "private"
  | "link-local"
  | "unique-local"
  | "multicast"
  | "unspecified"
  | "reserved";

/** Expands an IPv6 text address into 8 16-bit groups; undefined when not IPv6. */
export function ipv6Groups(ip: string): number[] | undefined {
  if (isIP(ip) !== 6) return undefined;
  let s = ip.split("%")[0]!;
  // Trailing dotted IPv4 (::ffff:1.2.3.4)
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const b = v4[1]!.split(".").map(Number);
    s = s.slice(0, -v4[1]!.length) +
      `${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head, tail] = s.split("::") as [string, string | undefined];
  const h = head ? head.split(":") : [];
  const t = tail !== undefined && tail !== "" ? tail.split(":") : [];
  const fill = tail !== undefined ? 8 - h.length - t.length : 0;
  const groups = [...h, ...Array(fill).fill("0"), ...t].map((g) => parseInt(g, 16));
  return groups.length === 8 ? groups : undefined;
}

function classifyV4(ip: string): AddressClass {
  const [a, b] = ip.split(".").map(Number) as [number, number, number, number];
  if (a === 0) return "unspecified";
  if (a === 127) return "loopback";
  if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) return "private";
  if (a === 100 && b >= 64 && b <= 127) return "private"; // carrier-grade NAT
  if (a === 169 && b === 254) return "link-local"; // includes 169.254.169.254 (cloud metadata)
  if (a >= 224 && a <= 239) return "multicast";
  if (a >= 240) return "reserved"; // incl. broadcast
  if (a === 192 && b === 0 && ip.startsWith("192.0.0.")) return "reserved";
  if (a === 198 && (b === 18 || b === 19)) return "reserved"; // benchmarking
  return "public";
}

/** Classifies an IPv4 or IPv6 address (IPv4-mapped IPv6 is classified as its IPv4). */
export function classifyAddress(ip: string): AddressClass {
  if (isIP(ip) === 4) return classifyV4(ip);
  const g = ipv6Groups(ip);
  if (!g) return "reserved";
  if (g.every((x) => x === 0)) return "unspecified";
  if (g.slice(0, 7).every((x) => x === 0) && g[7] === 1) return "loopback";
  // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated)
  if (g.slice(0, 5).every((x) => x === 0) && (g[5] === 0xffff || g[5] === 0)) {
    return classifyV4(`${g[6]! >> 8}.${g[6]! & 0xff}.${g[7]! >> 8}.${g[7]! & 0xff}`);
  }
  // 64:ff9b::/96 NAT64 embeds IPv4 too
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) {
    return classifyV4(`${g[6]! >> 8}.${g[6]! & 0xff}.${g[7]! >> 8}.${g[7]! & 0xff}`);
  }
  if ((g[0]! & 0xffc0) === 0xfe80) return "link-local";
  if ((g[0]! & 0xfe00) === 0xfc00) return "unique-local";
  if ((g[0]! & 0xff00) === 0xff00) return "multicast";
  if ((g[0]! & 0xffc0) === 0xfec0) return "private"; // deprecated site-local
  return "public";
}

function hostMatches(host: string, pattern: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, "");
  const p = pattern.toLowerCase().replace(/\.$/, "");
  if (p.startsWith("*.")) return h.endsWith(p.slice(1)) || h === p.slice(2);
  return h === p;
}

function portAllowed(port: number, allow: readonly string[]): boolean {
  if (allow.length === 0) return true;
  return allow.some((spec) => {
    const m = /^(\d+)(?:-(\d+))?$/.exec(spec.trim());
    if (!m) return false;
    const lo = Number(m[1]);
    const hi = m[2] ? Number(m[2]) : lo;
    return port >= lo && port <= hi;
  });
}

/** Checks the name and port; returns why it is refused, or null. */
export function checkTarget(host: string, port: number, p: PolicyOptions): string | null {
  if (port < 1 || port > 65535) return `port ${port} is out of range`;
  if (!portAllowed(port, p.allowPorts)) return `port ${port} is not in policy.allow_ports`;
  if (p.denyHosts.some((d) => hostMatches(host, d))) return `host ${host} is in policy.deny_hosts`;
  if (p.allowHosts.length && !p.allowHosts.some((a) => hostMatches(host, a))) {
    return `host ${host} is not in policy.allow_hosts`;
  }
  return null;
}

/** Checks one resolved address; returns why it is refused, or null. */
export function checkAddress(ip: string, p: PolicyOptions): string | null {
  if (p.allowPrivateTargets) return null;
  const c = classifyAddress(ip);
  if (c === "public") return null;
  return `${ip} is a ${c} address (set allow_private_targets to reach it)`;
}
