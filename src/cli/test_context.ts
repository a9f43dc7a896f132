/** A {@linkcode CommandContext} that records output, for tests. */
import type { CommandContext } from "./context.ts";

export interface RecordingContext extends CommandContext {
  stdout: string[];
  stderr: string[];
  abort(): void;
}

export function recordingContext(env: Record<string, string | undefined> = {}): RecordingContext {
  const controller = new AbortController();
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    env,
    out: (l) => stdout.push(l),
    err: (l) => stderr.push(l),
    signal: controller.signal,
    prompt: () => Promise.resolve(null),
    stdout,
    stderr,
    abort: () => controller.abort(),
  };
}
