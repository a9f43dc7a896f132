/** The subcommands, in the order `fluidity --help` lists them. */
import { certsCommand } from "./certs_cmd.ts";
import type { Command } from "./context.ts";
import { notBuiltCommand } from "./not_built.ts";

export function commands(): Command[] {
  return [
    notBuiltCommand({
      name: "local",
      summary: "run everything on this machine: certs, local control plane, agent",
      usage: "local [--listen 127.0.0.1:8080]",
    }, "issue 5"),
    notBuiltCommand({
      name: "agent",
      summary: "run the workstation agent (HTTP proxy over the mTLS tunnel)",
      usage: "agent [--config agent.yaml] [options]",
    }, "issue 4"),
    notBuiltCommand({
      name: "server",
      summary: "run the tunnel server (mTLS listener that dials targets)",
      usage: "server [--config server.yaml] [options]",
    }, "issue 4"),
    certsCommand(),
    notBuiltCommand({
      name: "control-plane",
      summary: "serve the lifecycle API (wake, query, kill) outside AWS",
      usage: "control-plane [--provider local] [--listen 127.0.0.1:8787] [--api-key KEY]",
    }, "issue 5"),
    notBuiltCommand({
      name: "deploy",
      summary: "deploy to AWS: server stack, control-plane stack, agent config",
      usage: "deploy up|down|status [--config deploy.yaml]",
    }, "issue 8"),
  ];
}
