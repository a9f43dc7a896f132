/** `fluidity deploy`: placeholder until the deploy manager lands (issue 8). */
import { notBuiltCommand } from "./not_built.ts";

export const deployCommand = notBuiltCommand({
  name: "deploy",
  summary: "deploy to AWS: server stack, control-plane stack, agent config",
  usage: "deploy up|down|status [--config deploy.yaml]",
}, "issue 8");
