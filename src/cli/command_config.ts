/** Shared steps of the long-running commands: config layering and the logger. */
import { loadConfig } from "../config/load.ts";
import type { ConfigValues, Field } from "../config/schema.ts";
import { createLogger, type LogFormat, type Logger, type LogLevel } from "../log/logger.ts";
import type { CommandContext } from "./context.ts";
import type { ParsedFlags } from "./flags.ts";

/** YAML (`--config` or `FLUIDITY_CONFIG`) < `FLUIDITY_*` env < flags. */
export function loadCommandConfig(
  fields: readonly Field[],
  parsed: ParsedFlags,
  ctx: CommandContext,
): Promise<ConfigValues> {
  const configPath = (parsed.values["config"] as string | undefined) ?? ctx.env["FLUIDITY_CONFIG"];
  return loadConfig(fields, { configPath, env: ctx.env, flags: parsed.values });
}

/** The command's logger: stderr through the context. */
export function commandLogger(
  log: { level: LogLevel; format: LogFormat },
  ctx: CommandContext,
): Logger {
  return createLogger({ level: log.level, format: log.format, sink: ctx.err });
}
