/**
 * Reads a YAML config file and resolves it with the environment and flags.
 * The only config code that touches the file system.
 */
import { ConfigError } from "../errors.ts";
import { type ConfigValues, type Field, resolveConfig } from "./schema.ts";

/** Reads and parses a config file; a missing or unreadable file is a {@linkcode ConfigError}. */
export async function readConfigFile(path: string): Promise<{ path: string; data: unknown }> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message;
    throw new ConfigError(`${path}: cannot read config file: ${why} (check --config)`);
  }
  // The YAML parser is loaded only when a file is read (~10 MB of RSS otherwise).
  const { parseYamlConfig } = await import("./yaml_parse.ts");
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
