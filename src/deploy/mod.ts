/**
 * The deploy manager: `deploy up`, `status` and `down`. Imports the AWS SDK:
 * `src/cli/deploy_cmd.ts` loads this module with a dynamic `import()` only
 * when a deploy subcommand runs.
 */
export { createDeployClients, type DeployClients, destroyDeployClients } from "./clients.ts";
export { deployDown, type DownOptions } from "./down.ts";
export type { DeployRunOptions } from "./run.ts";
export { StackFailedError } from "./stacks.ts";
export { deployStatus, type StatusResult } from "./status.ts";
export { deployUp, type UpResult } from "./up.ts";
