/** How to run this same `fluidity` again as a child process. */
import { fileURLToPath as fromFileUrl } from "node:url";
import { RUNTIME_FLAGS } from "../runtime_flags.ts";

export interface SelfCommandOptions {
  /** Default `Deno.execPath()`. */
  execPath?: string;
  /** URL of `main.ts`. Default: resolved from this module. */
  mainUrl?: string;
}

/**
 * The argv that runs `fluidity <args>` with the same program as this process:
 * a compiled binary → `[execPath, ...args]` (its runtime flags are baked in);
 * under `deno run` → `[execPath, "run", "-A", ...RUNTIME_FLAGS, <main.ts>, ...args]`.
 *
 * @example
 * ```ts
 * const [cmd, ...rest] = fluidityCommand(["server", "--help"]);
 * new Deno.Command(cmd, { args: rest }).spawn();
 * ```
 */
export function fluidityCommand(args: string[], options: SelfCommandOptions = {}): string[] {
  const execPath = options.execPath ?? Deno.execPath();
  const mainUrl = options.mainUrl ?? new URL("../../main.ts", import.meta.url).href;
  if (isCompiled(execPath, mainUrl)) return [execPath, ...args];
  const main = mainUrl.startsWith("file:") ? fromFileUrl(mainUrl) : mainUrl;
  return [execPath, "run", "-A", ...RUNTIME_FLAGS, main, ...args];
}

/** `deno compile` binaries carry their modules under a virtual `deno-compile-` dir and are not named `deno`. */
function isCompiled(execPath: string, mainUrl: string): boolean {
  if (mainUrl.includes("deno-compile-")) return true;
  const base = execPath.split(/[\\/]/).pop() ?? "";
  return !/^deno(\.exe)?$/i.test(base);
}
