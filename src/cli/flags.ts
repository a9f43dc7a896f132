/**
 * Flag parsing and `--help` text for every subcommand, on `node:util`
 * `parseArgs` (strict: unknown flags are usage errors).
 */
import { parseArgs } from "node:util";
import { UsageError } from "../errors.ts";
import type { Field } from "../config/schema.ts";
import { formatDuration } from "../config/values.ts";

/** One flag that is not a config field (e.g. `--force`, `--dir`). */
export interface FlagSpec {
  name: string;
  type: "string" | "boolean";
  multiple?: boolean;
  short?: string;
  /** Shown in help, e.g. `DIR`. */
  arg?: string;
  help: string;
  default?: string | boolean;
}

export interface CommandSpec {
  /** `certs issue server` */
  name: string;
  /** One line. */
  summary: string;
  /** Usage line after `fluidity `. */
  usage: string;
  flags?: FlagSpec[];
  /** Config fields that have flags (their flags are added automatically). */
  fields?: readonly Field[];
  /** Takes a `--config FILE` (YAML). */
  config?: boolean;
  /** Extra text at the end of help. */
  notes?: string;
  /** Allowed positional count, default 0. */
  positionals?: { min: number; max: number };
}

export interface ParsedFlags {
  values: Record<string, unknown>;
  positionals: string[];
  help: boolean;
}

function defaultText(f: Field): string {
  const d = f.default;
  if (f.secret) return "";
  if (d === "" || d === undefined || (Array.isArray(d) && d.length === 0)) return "";
  if (f.kind === "duration") return ` (default ${formatDuration(d as number)})`;
  return ` (default ${Array.isArray(d) ? d.join(",") : String(d)})`;
}

/** The `--help` text of a command. */
export function helpText(spec: CommandSpec): string {
  const rows: Array<[string, string]> = [];
  if (spec.config) rows.push(["--config FILE", "YAML config file (FLUIDITY_CONFIG)"]);
  for (const f of spec.fields ?? []) {
    if (!f.flag) continue;
    const arg = f.kind === "bool" ? "" : ` ${f.kind === "address" ? "ADDR" : f.kind.toUpperCase()}`;
    rows.push([`--${f.flag}${arg}`, `${f.help}${defaultText(f)}`]);
  }
  for (const f of spec.flags ?? []) {
    const arg = f.type === "string" ? ` ${f.arg ?? "VALUE"}` : "";
    const rep = f.multiple ? " (repeatable)" : "";
    const def = f.default !== undefined && f.default !== false ? ` (default ${f.default})` : "";
    rows.push([`--${f.name}${arg}`, `${f.help}${rep}${def}`]);
  }
  rows.push(["-h, --help", "show this help"]);
  const width = Math.min(32, Math.max(...rows.map(([a]) => a.length)) + 2);
  const lines = [
    `fluidity ${spec.name}: ${spec.summary}`,
    "",
    `Usage: fluidity ${spec.usage}`,
    "",
    "Options:",
    ...rows.map(([a, b]) =>
      a.length >= width ? `  ${a}\n  ${" ".repeat(width)}${b}` : `  ${a.padEnd(width)}${b}`
    ),
  ];
  if (spec.fields?.length) {
    lines.push("", "Every setting can also come from the YAML file or a FLUIDITY_* variable;");
    lines.push("flags override the environment, which overrides the file.");
  }
  if (spec.notes) lines.push("", spec.notes);
  return lines.join("\n");
}

/** Parses argv for one command; throws {@linkcode UsageError} on unknown or malformed flags. */
export function parseFlags(spec: CommandSpec, args: string[]): ParsedFlags {
  const options: Record<
    string,
    { type: "string" | "boolean"; multiple?: boolean; short?: string }
  > = {
    help: { type: "boolean", short: "h" },
  };
  if (spec.config) options["config"] = { type: "string" };
  for (const f of spec.fields ?? []) {
    if (f.flag) options[f.flag] = { type: f.kind === "bool" ? "boolean" : "string" };
  }
  for (const f of spec.flags ?? []) {
    options[f.name] = {
      type: f.type,
      ...(f.multiple ? { multiple: true } : {}),
      ...(f.short ? { short: f.short } : {}),
    };
  }
  let parsed;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: true });
  } catch (e) {
    const msg = (e as Error).message.split("\n")[0]!.replace(/\. To specify.*$/, "");
    throw new UsageError(`fluidity ${spec.name}: ${msg} (see 'fluidity ${spec.name} --help')`);
  }
  const values = parsed.values as Record<string, unknown>;
  const help = values["help"] === true;
  delete values["help"];
  const pos = spec.positionals ?? { min: 0, max: 0 };
  if (!help && (parsed.positionals.length < pos.min || parsed.positionals.length > pos.max)) {
    const what = parsed.positionals.length > pos.max
      ? `unexpected argument ${JSON.stringify(parsed.positionals[pos.max])}`
      : "missing argument";
    throw new UsageError(`fluidity ${spec.name}: ${what}; usage: fluidity ${spec.usage}`);
  }
  for (const f of spec.flags ?? []) {
    if (values[f.name] === undefined && f.default !== undefined) values[f.name] = f.default;
  }
  return { values, positionals: parsed.positionals, help };
}

/**
 * Parses argv, or prints the command's `--help` to `out` and returns
 * undefined (the command then exits 0).
 */
export function parseOrHelp(
  spec: CommandSpec,
  args: string[],
  out: (line: string) => void,
): ParsedFlags | undefined {
  const parsed = parseFlags(spec, args);
  if (!parsed.help) return parsed;
  out(helpText(spec));
  return undefined;
}
