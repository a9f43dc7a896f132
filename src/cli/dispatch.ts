/**
 * argv → subcommand. Returns the exit code; `main.ts` is the only place that
 * exits the process.
 */
import { exitCodeFor } from "../errors.ts";
import { VERSION } from "../version.ts";
import type { Command, CommandContext } from "./context.ts";
import { commands } from "./registry.ts";

export function usageText(list: readonly Command[] = commands()): string {
  const width = Math.max(...list.map((c) => c.name.length)) + 2;
  return [
    "fluidity: an mTLS tunnel for HTTP, HTTPS and WebSocket through a restrictive firewall",
    "",
    "Usage: fluidity <command> [options]",
    "",
    "Commands:",
    ...list.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    "",
    "Global: --version, --help. 'fluidity <command> --help' shows a command's options.",
    "Start here: 'fluidity local' runs everything on this machine.",
  ].join("\n");
}

/** Runs one command line; never throws, never exits. */
export async function runCli(args: string[], ctx: CommandContext): Promise<number> {
  const list = commands();
  const [name, ...rest] = args;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    const out = name === undefined ? ctx.err : ctx.out;
    out(usageText(list));
    return name === undefined ? 2 : 0;
  }
  if (name === "--version" || name === "-V" || name === "version") {
    ctx.out(`fluidity ${VERSION} (deno ${Deno.version.deno})`);
    return 0;
  }
  const cmd = list.find((c) => c.name === name);
  if (!cmd) {
    ctx.err(`fluidity: unknown command ${JSON.stringify(name)}\n\n${usageText(list)}`);
    return 2;
  }
  try {
    return await cmd.run(rest, ctx);
  } catch (e) {
    const code = exitCodeFor(e);
    const msg = e instanceof Error ? e.message : String(e);
    ctx.err(code === 2 ? msg : `fluidity ${name}: ${msg}`);
    return code;
  }
}
