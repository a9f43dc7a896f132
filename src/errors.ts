/**
 * Errors that carry an exit code. `main.ts` maps them: {@linkcode UsageError}
 * and {@linkcode ConfigError} exit 2; anything else exits 1.
 */

/** Bad command line: unknown command or flag, missing argument. Exit 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Bad configuration value from a file, the environment or a flag. Exit 2. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Exit code for an error thrown out of a command. */
export function exitCodeFor(err: unknown): number {
  return err instanceof UsageError || err instanceof ConfigError ? 2 : 1;
}
