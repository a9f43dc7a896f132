/**
 * One logging module for every part of Fluidity: text or JSON lines to a
 * sink (stderr by default), levels, child loggers with bound fields, and
 * redaction of secrets wherever they would print.
 *
 * Written here rather than on `@logtape/logtape` because LogTape is configured
 * through one process-wide `configure()`, while every Fluidity component takes
 * its logger as an argument (several agents and servers run in one test
 * process, each with its own sink).
 */

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFormat = "text" | "json";
export type LogFields = Record<string, unknown>;

export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];
export const LOG_FORMATS: readonly LogFormat[] = ["text", "json"];

/** What every component receives. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every record. */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  /** Lowest level written. Default `"info"`. */
  level?: LogLevel;
  /** Default `"text"`. */
  format?: LogFormat;
  /** Where lines go. Default: stderr. */
  sink?: (line: string) => void;
  /** Clock for timestamps. Default `Date.now`. */
  now?: () => number;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
// Matched against the field name in snake_case, so `apiKey`, `accessToken` and
// `clientSecret` count as well as `api_key`, `x-api-key` and `tls.key`.
const SECRET_KEY =
  /(^|[_.\-])(key|secret|password|passwd|passphrase|token|authorization|api_?key|apikey|credential|cookie)s?$/;
const PEM_PRIVATE =
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g;
const MAX_DEPTH = 6;
export const REDACTED = "[redacted]";

function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase());
}

/** Replaces secret-looking values: by field name, and PEM private keys anywhere. */
export function redact(value: unknown, key = "", depth = 0): unknown {
  if (key !== "" && isSecretKey(key) && value !== undefined && value !== null && value !== "") {
    return REDACTED;
  }
  if (typeof value === "string") return value.replace(PEM_PRIVATE, REDACTED);
  if (value instanceof Error) {
    return redact(value.message, "", depth + 1);
  }
  if (value === null || typeof value !== "object") return value;
  // Deeper than this is not printed at all: it could hide a secret (or be a cycle).
  if (depth >= MAX_DEPTH) return "[nested]";
  if (Array.isArray(value)) return value.map((v) => redact(v, "", depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = redact(v, k, depth + 1);
  return out;
}

/** JSON that does not throw on BigInt. */
function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) => typeof v === "bigint" ? v.toString() : v);
}

function textValue(v: unknown): string {
  if (typeof v === "string") return /[\s"=\p{Cc}]/u.test(v) || v === "" ? JSON.stringify(v) : v;
  if (v instanceof Error) return JSON.stringify(v.message);
  if (typeof v === "object" && v !== null) return toJson(v);
  return String(v);
}

/** Creates a logger. Cheap: level checks happen before any formatting. */
export function createLogger(options: LoggerOptions = {}, bound: LogFields = {}): Logger {
  const min = RANK[options.level ?? "info"];
  const format = options.format ?? "text";
  const sink = options.sink ?? ((line: string) => console.error(line));
  const now = options.now ?? Date.now;

  function write(level: LogLevel, msg: string, fields?: LogFields): void {
    if (RANK[level] < min) return;
    const all = redact({ ...bound, ...fields }) as LogFields;
    const time = new Date(now()).toISOString();
    const text = redact(msg) as string;
    if (format === "json") {
      // time, level and msg stay first and cannot be overwritten by a field of the same name.
      sink(toJson(Object.assign({ time, level, msg: text }, all, { time, level, msg: text })));
      return;
    }
    const kv = Object.entries(all)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${textValue(v)}`)
      .join(" ");
    // One event, one line: control characters in the message (a peer's text can end up
    // there) are escaped so they cannot forge or garble lines.
    const line = text.replace(/\p{Cc}/gu, (c) => JSON.stringify(c).slice(1, -1));
    sink(`${time} ${level.toUpperCase().padEnd(5)} ${line}${kv ? " " + kv : ""}`);
  }

  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    child: (fields) => createLogger(options, { ...bound, ...fields }),
  };
}

/** A logger that drops everything (tests that do not look at logs). */
export function silentLogger(): Logger {
  return createLogger({ sink: () => {}, level: "error" });
}

/** A logger that keeps lines in memory, for tests that assert on logs. */
export function memoryLogger(level: LogLevel = "debug"): Logger & { lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger({ level, format: "json", sink: (l) => lines.push(l) });
  return Object.assign(logger, { lines });
}
