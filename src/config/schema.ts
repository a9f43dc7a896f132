/**
 * Declarative configuration: every setting is one {@linkcode Field} with its
 * YAML key path, type, default, flag and help text. {@linkcode resolveConfig}
 * layers defaults < YAML file < `FLUIDITY_*` environment < flags and validates
 * everything, without side effects. Messages name the source and the key.
 */
import { ConfigError } from "../errors.ts";
import { formatDuration, formatSize, parseDuration, parseHostPort, parseSize } from "./values.ts";

export type FieldKind =
  | "string"
  | "int"
  | "bool"
  | "duration"
  | "size"
  | "address"
  | "enum"
  | "list"
  | "url";

/** One setting. */
export interface Field {
  /** YAML path, dot separated: `"tls.cert"`. */
  key: string;
  kind: FieldKind;
  /** Default, already in the resolved type (ms for durations, bytes for sizes). */
  default: unknown;
  /** Long flag without dashes, when settable from the command line. */
  flag?: string;
  /** For `enum`. */
  values?: readonly string[];
  /** Inclusive bounds for `int`, `duration` (ms) and `size` (bytes). */
  min?: number;
  max?: number;
  /** `address`: accept an empty string (feature off). */
  optional?: boolean;
  /** Never printed in logs or `config` dumps. */
  secret?: boolean;
  help: string;
}

export type ConfigValues = Record<string, unknown>;

/** Where each source comes from; all optional. */
export interface ConfigSources {
  /** Parsed YAML document and its path (for messages). */
  file?: { path: string; data: unknown };
  /** Environment variables (only `FLUIDITY_*` are read). */
  env?: Record<string, string | undefined>;
  /** Flag values by flag name (already split by the flag parser). */
  flags?: Record<string, unknown>;
}

/** `tls.cert` → `FLUIDITY_TLS_CERT`. */
export function envName(key: string): string {
  return "FLUIDITY_" + key.toUpperCase().replace(/[.\-]/g, "_");
}

function describe(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  return String(v);
}

function expected(f: Field): string {
  switch (f.kind) {
    case "string":
      return "a string";
    case "int":
      return `an integer${rangeText(f)}`;
    case "bool":
      return "true or false";
    case "duration":
      return `a duration like "30s" or "5m"${rangeText(f, "duration")}`;
    case "size":
      return `a size like "64KiB" or "1MiB"${rangeText(f, "size")}`;
    case "address":
      return `an address like "127.0.0.1:8080"${f.optional ? " (or empty to disable)" : ""}`;
    case "enum":
      return `one of ${f.values!.map((v) => JSON.stringify(v)).join(", ")}`;
    case "list":
      return "a list of strings";
    case "url":
      return 'a URL like "https://example.com/prod"';
  }
}

function rangeText(f: Field, unit?: "duration" | "size"): string {
  const fmt = (n: number) =>
    unit === "duration" ? formatDuration(n) : unit === "size" ? formatSize(n) : String(n);
  if (f.min !== undefined && f.max !== undefined) {
    return ` between ${fmt(f.min)} and ${fmt(f.max)}`;
  }
  if (f.min !== undefined) return ` of at least ${fmt(f.min)}`;
  if (f.max !== undefined) return ` of at most ${fmt(f.max)}`;
  return "";
}

/**
 * Converts one raw value (YAML scalar, env string or flag) to the field's type.
 * Throws a `TypeError` with what was expected.
 */
export function coerce(f: Field, raw: unknown, fromText: boolean): unknown {
  const bad = () => new TypeError(`expected ${expected(f)}, got ${describe(raw)}`);
  let v: unknown;
  switch (f.kind) {
    case "string":
      if (typeof raw !== "string" && !(fromText === false && typeof raw === "number")) throw bad();
      v = String(raw);
      break;
    case "int": {
      const n = typeof raw === "number"
        ? raw
        : typeof raw === "string" && /^-?\d+$/.test(raw.trim())
        ? Number(raw)
        : NaN;
      if (!Number.isInteger(n)) throw bad();
      v = n;
      break;
    }
    case "bool":
      if (typeof raw === "boolean") v = raw;
      else if (typeof raw === "string" && /^(true|1|yes|on)$/i.test(raw)) v = true;
      else if (typeof raw === "string" && /^(false|0|no|off)$/i.test(raw)) v = false;
      else throw bad();
      break;
    case "duration":
      // A bare number means seconds, whether it comes from YAML, env or a flag.
      if (typeof raw === "number" && Number.isFinite(raw) && raw >= 0) v = Math.round(raw * 1000);
      else if (typeof raw === "string" && /^\s*\d+(\.\d+)?\s*$/.test(raw)) {
        v = Math.round(Number(raw) * 1000);
      } else if (typeof raw === "string") {
        try {
          v = parseDuration(raw);
        } catch {
          throw bad();
        }
      } else throw bad();
      break;
    case "size":
      if (typeof raw === "number" && Number.isInteger(raw) && raw >= 0) v = raw;
      else if (typeof raw === "string") {
        try {
          v = parseSize(raw);
        } catch {
          throw bad();
        }
      } else throw bad();
      break;
    case "address":
      if (typeof raw !== "string") throw bad();
      if (raw === "" && f.optional) v = "";
      else {
        try {
          parseHostPort(raw);
        } catch {
          throw bad();
        }
        v = raw;
      }
      break;
    case "enum":
      if (typeof raw !== "string" || !f.values!.includes(raw)) throw bad();
      v = raw;
      break;
    case "list":
      if (Array.isArray(raw)) {
        if (!raw.every((x) => typeof x === "string" || typeof x === "number")) throw bad();
        v = raw.map(String);
      } else if (typeof raw === "string") {
        v = raw.split(",").map((s) => s.trim()).filter((s) => s !== "");
      } else throw bad();
      break;
    case "url":
      if (typeof raw !== "string") throw bad();
      if (raw === "") v = "";
      else {
        try {
          const u = new URL(raw);
          if (u.protocol !== "http:" && u.protocol !== "https:") throw bad();
        } catch {
          throw bad();
        }
        v = raw.replace(/\/+$/, "");
      }
      break;
  }
  if (typeof v === "number") {
    if ((f.min !== undefined && v < f.min) || (f.max !== undefined && v > f.max)) throw bad();
  }
  return v;
}

/** Flattens a YAML mapping into dotted keys; rejects unknown keys and wrong shapes. */
function flatten(
  data: unknown,
  fields: readonly Field[],
  path: string,
): Array<[string, unknown]> {
  if (data === null || data === undefined) return [];
  if (typeof data !== "object" || Array.isArray(data)) {
    throw new ConfigError(
      `${path}: expected a mapping of settings at the top level, got ${describe(data)}`,
    );
  }
  const known = new Set(fields.map((f) => f.key));
  const prefixes = new Set<string>();
  for (const f of fields) {
    const parts = f.key.split(".");
    for (let i = 1; i < parts.length; i++) prefixes.add(parts.slice(0, i).join("."));
  }
  const out: Array<[string, unknown]> = [];
  const walk = (obj: Record<string, unknown>, prefix: string) => {
    for (const [k, v] of Object.entries(obj)) {
      const key = prefix ? `${prefix}.${k}` : k;
      if (known.has(key)) out.push([key, v]);
      else if (prefixes.has(key)) {
        // `tls:` with every line below commented out parses as null: an empty section.
        if (v === null) continue;
        if (typeof v !== "object" || Array.isArray(v)) {
          throw new ConfigError(`${path}: ${key}: expected a mapping, got ${describe(v)}`);
        }
        walk(v as Record<string, unknown>, key);
      } else {
        const near = suggest(key, [...known]);
        throw new ConfigError(
          `${path}: ${key}: unknown setting${near ? ` (did you mean "${near}"?)` : ""}`,
        );
      }
    }
  };
  walk(data as Record<string, unknown>, "");
  return out;
}

/** The closest known key, when it is close enough to be a likely typo or misplacement. */
function suggest(key: string, known: string[]): string | undefined {
  const last = key.split(".").pop()!;
  let best: string | undefined;
  let bestScore = Infinity;
  for (const k of known) {
    const kLast = k.split(".").pop()!;
    // Whole path (typo) or last segment alone (right name, wrong section).
    const score = Math.min(editDistance(key, k), editDistance(last, kLast) + 0.5);
    if (score < bestScore) [best, bestScore] = [k, score];
  }
  const limit = Math.max(2, Math.floor(last.length / 3));
  return bestScore <= limit ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const sub = prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      cur.push(Math.min(prev[j]! + 1, cur[j - 1]! + 1, sub));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/**
 * Layers defaults < file < env < flags and validates. Pure: no file or env
 * access happens here. Throws {@linkcode ConfigError} naming source and key.
 */
export function resolveConfig(fields: readonly Field[], sources: ConfigSources): ConfigValues {
  const values: ConfigValues = {};
  for (const f of fields) values[f.key] = f.default;
  const byKey = new Map(fields.map((f) => [f.key, f]));

  if (sources.file) {
    for (const [key, raw] of flatten(sources.file.data, fields, sources.file.path)) {
      const f = byKey.get(key)!;
      try {
        values[key] = coerce(f, raw, false);
      } catch (e) {
        throw new ConfigError(`${sources.file.path}: ${key}: ${(e as Error).message}`);
      }
    }
  }
  for (const f of fields) {
    const name = envName(f.key);
    const raw = sources.env?.[name];
    if (raw === undefined) continue;
    try {
      values[f.key] = coerce(f, raw, true);
    } catch (e) {
      throw new ConfigError(`environment ${name} (${f.key}): ${(e as Error).message}`);
    }
  }
  for (const f of fields) {
    if (!f.flag) continue;
    const raw = sources.flags?.[f.flag];
    if (raw === undefined) continue;
    try {
      values[f.key] = coerce(f, raw, true);
    } catch (e) {
      throw new ConfigError(`flag --${f.flag} (${f.key}): ${(e as Error).message}`);
    }
  }
  return values;
}

/** Values with secrets replaced, for printing. */
export function publicValues(fields: readonly Field[], values: ConfigValues): ConfigValues {
  const out: ConfigValues = {};
  for (const f of fields) out[f.key] = f.secret && values[f.key] ? "[redacted]" : values[f.key];
  return out;
}
