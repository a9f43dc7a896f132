/** A subcommand whose feature is not built yet: `--help` works, running it exits 2. */
import type { Command } from "./context.ts";
import { type CommandSpec, helpText, parseFlags } from "./flags.ts";

export function notBuiltCommand(spec: CommandSpec, issue: string): Command {
  return {
    name: spec.name,
    summary: spec.summary,
    run(args, ctx) {
      const parsed = parseFlags({ ...spec, positionals: { min: 0, max: 99 } }, args);
      if (parsed.help) {
        ctx.out(helpText(spec));
        return Promise.resolve(0);
      }
      ctx.err(`fluidity ${spec.name}: not built yet (${issue})`);
      return Promise.resolve(2);
    },
  };
}
