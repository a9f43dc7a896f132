/**
 * `fluidity deploy up|down|status`: the deploy manager (src/deploy). This
 * module stays light: the deploy code and the AWS SDK are imported only when
 * a subcommand runs, and `--help` or a bad flag never loads them.
 */
import { DEPLOY_FIELDS, deployConfigOf, resolveRegion } from "../config/deploy_config.ts";
import { loadConfig } from "../config/load.ts";
import { UsageError } from "../errors.ts";
import type { DeployClients, DeployRunOptions } from "../deploy/mod.ts";
import type { Command, CommandContext } from "./context.ts";
import { type CommandSpec, parseOrHelp } from "./flags.ts";

export const DEPLOY_SPEC: CommandSpec = {
  name: "deploy",
  summary: "deploy to AWS: server stack, control-plane stack, agent config",
  usage: "deploy up|down|status [--config deploy.yaml] [--region R] [--stack-prefix fluidity] " +
    "[--yes]",
  config: true,
  fields: DEPLOY_FIELDS,
  flags: [
    {
      name: "yes",
      type: "boolean",
      short: "y",
      help: "down: delete without asking (required when not run from a terminal)",
    },
  ],
  positionals: { min: 1, max: 1 },
  notes: [
    "up      checks credentials and prerequisites, creates or reuses the private CA, stores",
    "        the server certificate in Secrets Manager, uploads the Lambda zips (deno task",
    "        layer), deploys infra/fargate.yaml then infra/lambda.yaml, and writes agent.yaml",
    "        (mode 0600) with the lifecycle URL, API key and certificate paths. Safe to re-run.",
    "status  stacks, service desired/running count, the server's public IP, last activity.",
    "down    deletes the stacks (control plane first), the secrets and the uploaded zips.",
    "",
    "--config defaults to ./deploy.yaml when it exists (see deploy.example.yaml).",
    "AWS credentials come from the usual places: AWS_PROFILE, AWS_ACCESS_KEY_ID, SSO.",
    "Then: fluidity agent --config agent.yaml",
  ].join("\n"),
};

export interface DeployCommandOptions {
  /** Creates the AWS clients for a region. Default: real SDK clients. */
  clients?: (region: string) => Promise<DeployClients>;
  /** Overrides for tests: clock, sleep, poll interval, templates directory. */
  run?: Omit<Partial<DeployRunOptions>, "clients" | "out">;
}

async function defaultConfigPath(
  flag: unknown,
  env: Record<string, string | undefined>,
): Promise<string | undefined> {
  if (typeof flag === "string") return flag;
  if (env["FLUIDITY_CONFIG"]) return env["FLUIDITY_CONFIG"];
  try {
    await Deno.stat("deploy.yaml");
    return "deploy.yaml";
  } catch {
    return undefined;
  }
}

async function confirmDown(
  summary: string,
  ctx: CommandContext,
  yes: boolean,
): Promise<boolean> {
  ctx.out(summary);
  if (yes) return true;
  const answer = ctx.prompt ? await ctx.prompt("Type 'yes' to delete: ") : null;
  if (answer === null) {
    throw new UsageError(
      "fluidity deploy down: not a terminal, cannot ask for confirmation: pass --yes to delete",
    );
  }
  return /^\s*(y|yes)\s*$/i.test(answer);
}

/** The `deploy` subcommand; options let tests inject mocked AWS clients. */
export function createDeployCommand(options: DeployCommandOptions = {}): Command {
  const spec = DEPLOY_SPEC;
  return {
    name: spec.name,
    summary: spec.summary,
    async run(args, ctx) {
      const parsed = parseOrHelp(spec, args, ctx.out);
      if (!parsed) return 0;
      const sub = parsed.positionals[0]!;
      if (sub !== "up" && sub !== "down" && sub !== "status") {
        throw new UsageError(
          `fluidity deploy: unknown action ${JSON.stringify(sub)}: use up, down or status`,
        );
      }
      const configPath = await defaultConfigPath(parsed.values["config"], ctx.env);
      const values = await loadConfig(DEPLOY_FIELDS, {
        configPath,
        env: ctx.env,
        flags: parsed.values,
      });
      const cfg = resolveRegion(deployConfigOf(values), ctx.env);

      const deploy = await import("../deploy/mod.ts");
      const clients = await (options.clients ?? deploy.createDeployClients)(cfg.region);
      const runOpts: DeployRunOptions = {
        ...options.run,
        clients,
        out: ctx.out,
        signal: ctx.signal,
      };
      try {
        if (sub === "up") {
          await deploy.deployUp(cfg, runOpts);
          return 0;
        }
        if (sub === "status") {
          await deploy.deployStatus(cfg, runOpts);
          return 0;
        }
        const done = await deploy.deployDown(cfg, {
          ...runOpts,
          confirm: (summary) => confirmDown(summary, ctx, parsed.values["yes"] === true),
        });
        if (!done) {
          ctx.err("fluidity deploy down: not confirmed; nothing was deleted");
          return 1;
        }
        return 0;
      } catch (e) {
        if (ctx.signal.aborted) {
          throw new Error(
            "interrupted: a stack operation already started goes on in AWS; " +
              "see 'fluidity deploy status'",
            { cause: e },
          );
        }
        throw e;
      } finally {
        if (!options.clients) deploy.destroyDeployClients(clients);
      }
    },
  };
}

export const deployCommand: Command = createDeployCommand();
