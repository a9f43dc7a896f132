/**
 * The `fluidity` executable: argv → subcommand. This is the only module that
 * exits the process.
 */
import { runCli } from "./src/cli/dispatch.ts";
import type { CommandContext } from "./src/cli/context.ts";

function listenForShutdown(controller: AbortController): void {
  const signals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT", "SIGBREAK"]
    : ["SIGINT", "SIGTERM"];
  for (const sig of signals) {
    Deno.addSignalListener(sig, () => {
      if (controller.signal.aborted) {
        console.error("fluidity: second signal, exiting now");
        Deno.exit(130);
      }
      controller.abort(new Error(`received ${sig}`));
    });
  }
}

function prompt(question: string): Promise<string | null> {
  if (!Deno.stdin.isTerminal()) return Promise.resolve(null);
  return Promise.resolve(globalThis.prompt(question));
}

if (import.meta.main) {
  const controller = new AbortController();
  listenForShutdown(controller);
  const ctx: CommandContext = {
    env: Deno.env.toObject(),
    out: (line) => console.log(line),
    err: (line) => console.error(line),
    signal: controller.signal,
    prompt,
  };
  const code = await runCli(Deno.args, ctx);
  Deno.exit(code);
}
