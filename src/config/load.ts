/**
 * Reads a YAML config file and resolves it with the environment and flags.
 * The only config code that touches the file system.
 */
import YAML, { LineCounter } from "yaml";
import { ConfigError } from "../errors.ts";
import { type ConfigValues, type Field, resolveConfig } from "./schema.ts";

/** Parses YAML text; a syntax error becomes a one-line {@linkcode ConfigError} naming file and line. */
export function parseYamlConfig(path: string, text: string): unknown {
  // With prettyErrors off, yaml leaves `linePos` unset: count lines ourselves.
  const lineCounter = new LineCounter();
  const doc = YAML.parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter });
  const err = doc.errors[0];
  if (err) {
    const pos = lineCounter.linePos(err.pos[0]);
    const msg = err.message.split("\n")[0];
    throw new ConfigError(`${path}:${pos.line}:${pos.col}: invalid YAML: ${msg}`);
  }
  try {
    return doc.toJS();
  } catch (e) {
    // e.g. an alias to an undefined anchor, or too many alias expansions
    throw new ConfigError(`${path}: invalid YAML: ${(e as Error).message.split("\n")[0]}`, {
      cause: e,
    });
  }
}

/** Reads and parses a config file; a missing or unreadable file is a {@linkcode ConfigError}. */
export async function readConfigFile(path: string): Promise<{ path: string; data: unknown }> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message;
    throw new ConfigError(`${path}: cannot read config file: ${why} (check --config)`);
  }
  return { path, data: parseYamlConfig(path, text) };
}

export interface LoadOptions {
  /** Path given by `--config` (or `FLUIDITY_CONFIG`); no file when undefined. */
  configPath?: string;
  env?: Record<string, string | undefined>;
  flags?: Record<string, unknown>;
}

/** File < env < flags, validated against `fields`. */
export async function loadConfig(
  fields: readonly Field[],
  options: LoadOptions,
): Promise<ConfigValues> {
  const file = options.configPath ? await readConfigFile(options.configPath) : undefined;
  return resolveConfig(fields, { file, env: options.env, flags: options.flags });
}
