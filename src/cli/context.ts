/** What a subcommand gets from `main.ts`: I/O, environment and a shutdown signal. */

export interface CommandContext {
  /** Environment variables (FLUIDITY_* and the standard proxy ones are read). */
  env: Record<string, string | undefined>;
  /** Writes a line to standard output. */
  out(line: string): void;
  /** Writes a line to standard error. */
  err(line: string): void;
  /** Aborted on the first SIGINT/SIGTERM (Ctrl-Break on Windows). */
  signal: AbortSignal;
  /** Reads one line from the terminal (confirmations); null when not interactive. */
  prompt?(question: string): Promise<string | null>;
}

/** A subcommand: parses its own args, returns the exit code. */
export interface Command {
  name: string;
  summary: string;
  run(args: string[], ctx: CommandContext): Promise<number>;
}

/** Resolves when the signal aborts. */
export function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) =>
    signal.addEventListener("abort", () => resolve(), { once: true })
  );
}
