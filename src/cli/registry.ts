/**
 * The subcommands, in the order `fluidity --help` lists them. Each command's
 * module is imported only when it runs, so the agent and server do not carry
 * the certificate library or the AWS SDK in memory.
 */
import type { Command } from "./context.ts";
import { lazySpecifier } from "../lazy_modules.ts";

/** Only the command that runs is loaded (see src/lazy_modules.ts). */
function mod(name: string): string {
  return lazySpecifier(`./${name}.ts`, import.meta.url);
}

function lazy(name: string, summary: string, load: () => Promise<Command>): Command {
  return { name, summary, run: async (args, ctx) => (await load()).run(args, ctx) };
}

export function commands(): Command[] {
  return [
    lazy(
      "local",
      "run everything on this machine: certs, local control plane, agent",
      async () => (await import(mod("local_cmd"))).localCommand,
    ),
    lazy(
      "agent",
      "run the workstation agent (HTTP proxy over the mTLS tunnel)",
      async () => (await import(mod("agent_cmd"))).agentCommand,
    ),
    lazy(
      "server",
      "run the tunnel server (mTLS listener that dials targets)",
      async () => (await import(mod("server_cmd"))).serverCommand,
    ),
    lazy(
      "certs",
      "create the private CA and issue server/agent certificates",
      async () => (await import(mod("certs_cmd"))).certsCommand(),
    ),
    lazy(
      "control-plane",
      "serve the lifecycle API (wake, query, kill) outside AWS",
      async () => (await import(mod("control_plane_cmd"))).controlPlaneCommand(),
    ),
    lazy(
      "deploy",
      "deploy to AWS: server stack, control-plane stack, agent config",
      async () => (await import(mod("deploy_cmd"))).deployCommand,
    ),
  ];
}
