/**
 * The subcommands, in the order `fluidity --help` lists them. Each command's
 * module is imported only when it runs, so the agent and server do not carry
 * the certificate library or the AWS SDK in memory.
 */
import type { Command } from "./context.ts";

function lazy(name: string, summary: string, load: () => Promise<Command>): Command {
  return { name, summary, run: async (args, ctx) => (await load()).run(args, ctx) };
}

export function commands(): Command[] {
  return [
    lazy(
      "local",
      "run everything on this machine: certs, local control plane, agent",
      async () => (await import("./local_cmd.ts")).localCommand,
    ),
    lazy(
      "agent",
      "run the workstation agent (HTTP proxy over the mTLS tunnel)",
      async () => (await import("./agent_cmd.ts")).agentCommand,
    ),
    lazy(
      "server",
      "run the tunnel server (mTLS listener that dials targets)",
      async () => (await import("./server_cmd.ts")).serverCommand,
    ),
    lazy(
      "certs",
      "create the private CA and issue server/agent certificates",
      async () => (await import("./certs_cmd.ts")).certsCommand(),
    ),
    lazy(
      "control-plane",
      "serve the lifecycle API (wake, query, kill) outside AWS",
      async () => (await import("./control_plane_cmd.ts")).controlPlaneCommand(),
    ),
    lazy(
      "deploy",
      "deploy to AWS: server stack, control-plane stack, agent config",
      async () => (await import("./deploy_cmd.ts")).deployCommand,
    ),
  ];
}
