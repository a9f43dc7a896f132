/** The subcommands, in the order `fluidity --help` lists them. */
import { agentCommand } from "./agent_cmd.ts";
import { certsCommand } from "./certs_cmd.ts";
import { serverCommand } from "./server_cmd.ts";
import type { Command } from "./context.ts";
import { controlPlaneCommand } from "./control_plane_cmd.ts";
import { notBuiltCommand } from "./not_built.ts";

export function commands(): Command[] {
  return [
    notBuiltCommand({
      name: "local",
      summary: "run everything on this machine: certs, local control plane, agent",
      usage: "local [--listen 127.0.0.1:8080]",
    }, "issue 5"),
    agentCommand,
    serverCommand,
    certsCommand(),
    controlPlaneCommand(),
    notBuiltCommand({
      name: "deploy",
      summary: "deploy to AWS: server stack, control-plane stack, agent config",
      usage: "deploy up|down|status [--config deploy.yaml]",
    }, "issue 8"),
  ];
}
