/**
 * Test helper: a working directory for `fluidity deploy` (deploy.yaml, dist/
 * with stand-in zips, an empty certs dir) and a runner that drives the real
 * `deploy` command against a {@linkcode FakeAws}, mapping errors to exit codes
 * the way `src/cli/dispatch.ts` does.
 */
import { join } from "node:path";
import { createDeployCommand } from "../cli/deploy_cmd.ts";
import { recordingContext } from "../cli/test_context.ts";
import { exitCodeFor } from "../errors.ts";
import { ARTIFACT_FILES } from "./artifacts.ts";
import { FakeAws, REGION } from "./_fake_aws.ts";

export const IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/fluidity-server:0.1.0";
export const CIDR = "198.51.100.7/32";

export interface DeployWorkspace {
  dir: string;
  configPath: string;
  certsDir: string;
  distDir: string;
  agentConfigPath: string;
  /** Rewrites one zip (a new build). */
  rebuild(name: string, content: string): Promise<void>;
  cleanup(): Promise<void>;
}

export async function deployWorkspace(extraYaml = ""): Promise<DeployWorkspace> {
  const dir = await Deno.makeTempDir({ prefix: "fluidity-deploy-" });
  const certsDir = join(dir, "certs");
  const distDir = join(dir, "dist");
  const agentConfigPath = join(dir, "agent.yaml");
  await Deno.mkdir(distDir);
  for (const name of ARTIFACT_FILES) {
    await Deno.writeTextFile(join(distDir, name), `PK stand-in for ${name}`);
  }
  const configPath = join(dir, "deploy.yaml");
  await Deno.writeTextFile(
    configPath,
    [
      `region: ${REGION}`,
      `image_uri: ${IMAGE}`,
      `allowed_cidr: ${CIDR}`,
      `certs_dir: ${certsDir}`,
      `artifacts_dir: ${distDir}`,
      `agent_config_path: ${agentConfigPath}`,
      extraYaml,
    ].join("\n"),
  );
  return {
    dir,
    configPath,
    certsDir,
    distDir,
    agentConfigPath,
    rebuild: (name, content) => Deno.writeTextFile(join(distDir, name), content),
    cleanup: () => Deno.remove(dir, { recursive: true }),
  };
}

export interface DeployRunResult {
  code: number;
  stdout: string[];
  stderr: string[];
  /** stdout and stderr together. */
  all: string;
}

/** Runs `fluidity deploy <args>` against the fake account. */
export async function runDeploy(
  aws: FakeAws,
  args: string[],
  opts: { prompt?: (q: string) => Promise<string | null>; env?: Record<string, string> } = {},
): Promise<DeployRunResult> {
  const ctx = recordingContext(opts.env ?? {});
  if (opts.prompt) ctx.prompt = opts.prompt;
  const cmd = createDeployCommand({
    clients: () => Promise.resolve(aws.clients),
    run: { now: aws.clock, sleep: aws.sleep, pollIntervalMs: 5000 },
  });
  let code: number;
  try {
    code = await cmd.run(args, ctx);
  } catch (e) {
    code = exitCodeFor(e);
    const msg = e instanceof Error ? e.message : String(e);
    ctx.err(code === 2 ? msg : `fluidity deploy: ${msg}`);
  }
  return {
    code,
    stdout: ctx.stdout,
    stderr: ctx.stderr,
    all: [...ctx.stdout, ...ctx.stderr].join("\n"),
  };
}
