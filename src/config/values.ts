/**
 * Parsers for the value types used in configuration: durations ("30s", "5m",
 * "250ms"), sizes ("64KiB", "1MiB"), addresses ("host:port"). Each throws a
 * `TypeError` whose message says what was expected; the config loader adds
 * the source and key.
 */

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses "250ms", "30s", "5m", "1h", "1m30s" into milliseconds. */
export function parseDuration(text: string): number {
  const s = text.trim();
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(s)) {
    throw new TypeError(
      `expected a duration like "30s", "5m" or "250ms", got ${JSON.stringify(text)}`,
    );
  }
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
  }
  return Math.round(total);
}

/** Formats milliseconds back to the shortest duration text ("1500ms", "30s", "5m"). */
export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  kb: 1000,
  mb: 1_000_000,
  gb: 1_000_000_000,
  kib: 1024,
  mib: 1024 * 1024,
  gib: 1024 * 1024 * 1024,
};

/** Parses "65536", "64KiB", "1MiB", "16kb" into bytes. */
export function parseSize(text: string): number {
  const m = /^\s*(\d+)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new TypeError(
      `expected a size like "65536", "64KiB" or "1MiB", got ${JSON.stringify(text)}`,
    );
  }
  return Number(m[1]) * unit;
}

/** Formats bytes as the shortest exact size text ("64KiB", "4MiB", "1500"). */
export function formatSize(bytes: number): string {
  for (const [unit, n] of [["GiB", 1024 ** 3], ["MiB", 1024 ** 2], ["KiB", 1024]] as const) {
    if (bytes > 0 && bytes % n === 0) return `${bytes / n}${unit}`;
  }
  return String(bytes);
}

/** A parsed `host:port`. IPv6 hosts are written `[::1]:8080` and stored without brackets. */
export interface HostPort {
  host: string;
  port: number;
}

/** Parses `host:port`, `[v6]:port`; with `allowZero`, port 0 (ephemeral) is accepted. */
export function parseHostPort(text: string, allowZero = true): HostPort {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(text) ?? /^([^:\s\[\]\/]+):(\d+)$/.exec(text);
  if (!m) {
    throw new TypeError(
      `expected an address like "127.0.0.1:8080" or "[::1]:8080", got ${JSON.stringify(text)}`,
    );
  }
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port > 65535 || (port === 0 && !allowZero)) {
    throw new TypeError(`port must be ${allowZero ? 0 : 1}-65535, got ${JSON.stringify(text)}`);
  }
  return { host: m[1]!, port };
}

/** Formats a host and port as an address, bracketing IPv6. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
