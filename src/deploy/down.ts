/**
 * `fluidity deploy down`: the control-plane stack, then the server stack
 * (each waited for), then the secrets and the artifacts `up` created (and the
 * bucket, if `up` created it). Local files (certs, agent.yaml) stay.
 */
import { bucketName, type DeployConfig, deployNames } from "../config/deploy_config.ts";
import { deleteArtifacts } from "./artifacts.ts";
import { checkCredentials } from "./credentials.ts";
import { deployRun, type DeployRunOptions, elapsedTag, formatElapsed } from "./run.ts";
import { deleteSecret } from "./secrets.ts";
import { deleteStack } from "./stacks.ts";

export interface DownOptions extends DeployRunOptions {
  /** Asked once, after the credentials check, with what will be deleted; false aborts. */
  confirm: (summary: string) => Promise<boolean>;
}

/** Returns false when the confirmation was declined (nothing deleted). */
export async function deployDown(cfg: DeployConfig, opts: DownOptions): Promise<boolean> {
  const run = deployRun(opts, cfg.waitTimeoutMs);
  const names = deployNames(cfg.stackPrefix);
  const id = await checkCredentials(run.clients, cfg.region);
  const bucket = bucketName(cfg, id.account);
  const summary = [
    `This deletes, in account ${id.account} (${cfg.region}):`,
    `  stacks ${names.controlStack} and ${names.serverStack}`,
    `  secrets ${Object.values(names.secrets).join(", ")} (7-day recovery window)`,
    `  s3://${bucket}/${names.artifactRoot}* (and the bucket, if deploy up created it)`,
    `Local files stay: ${cfg.certsDir}/, ${cfg.agentConfigPath}.`,
  ].join("\n");
  if (!(await opts.confirm(summary))) return false;

  const t0 = run.now();
  const step = (title: string) => run.out(`${elapsedTag(run.now() - t0)} ${title}`);
  step(`control-plane stack ${names.controlStack}`);
  await deleteStack(run, names.controlStack);
  step(`server stack ${names.serverStack}`);
  await deleteStack(run, names.serverStack);
  step("secrets");
  for (const name of Object.values(names.secrets)) {
    const r = await deleteSecret(run, name);
    run.out(`  secret ${name}: ${r === "not ours" ? "kept (not created by fluidity deploy)" : r}`);
  }
  step("artifacts");
  await deleteArtifacts(run, bucket, names.artifactRoot);
  run.out(`${elapsedTag(run.now() - t0)} done in ${formatElapsed(run.now() - t0)}`);
  return true;
}
