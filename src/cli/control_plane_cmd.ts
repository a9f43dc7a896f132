/**
 * `fluidity control-plane`: the lifecycle API (wake, query, kill) on
 * loopback, over the local provider (a real `fluidity server` child) or the
 * aws provider (an ECS service).
 */
import { join } from "node:path";
import { ConfigError, UsageError } from "../errors.ts";
import { parseHostPort } from "../config/values.ts";
import {
  createLogger,
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  type LogLevel,
} from "../log/logger.ts";
import type { Logger } from "../log/logger.ts";
import { startControlPlane } from "../lifecycle/control_plane.ts";
import { createLocalProvider } from "../lifecycle/local_provider.ts";
import { fluidityCommand } from "../lifecycle/self_command.ts";
import type { Provider } from "../lifecycle/types.ts";
import { type Command, untilAborted } from "./context.ts";
import { type CommandSpec, parseOrHelp } from "./flags.ts";

export const CONTROL_PLANE_SPEC: CommandSpec = {
  name: "control-plane",
  summary: "serve the lifecycle API (wake, query, kill) outside AWS",
  usage: "control-plane [--provider local|aws] [--listen 127.0.0.1:8787] [--api-key KEY] " +
    "[--certs-dir certs] [--cluster C --service S --region R]",
  flags: [
    {
      name: "provider",
      type: "string",
      arg: "NAME",
      help: "local (a server child on loopback) or aws (an ECS service)",
      default: "local",
    },
    {
      name: "listen",
      type: "string",
      arg: "ADDR",
      help: "address of the lifecycle API",
      default: "127.0.0.1:8787",
    },
    {
      name: "api-key",
      type: "string",
      arg: "KEY",
      help: "required x-api-key value (or FLUIDITY_API_KEY)",
    },
    {
      name: "certs-dir",
      type: "string",
      arg: "DIR",
      help: "local: directory with ca.crt, server.crt, server.key for the server child",
      default: "certs",
    },
    { name: "cluster", type: "string", arg: "NAME", help: "aws: ECS cluster" },
    { name: "service", type: "string", arg: "NAME", help: "aws: ECS service" },
    { name: "region", type: "string", arg: "REGION", help: "aws: region (or AWS_REGION)" },
    {
      name: "idle-minutes",
      type: "string",
      arg: "N",
      help: "scale down after N idle minutes",
      default: "15",
    },
    {
      name: "grace-minutes",
      type: "string",
      arg: "N",
      help: "never scale down a server younger than N minutes",
      default: "10",
    },
    {
      name: "log-level",
      type: "string",
      arg: "LEVEL",
      help: LOG_LEVELS.join("|"),
      default: "info",
    },
    {
      name: "log-format",
      type: "string",
      arg: "FORMAT",
      help: LOG_FORMATS.join("|"),
      default: "text",
    },
  ],
  notes: "All endpoints are POST and need the x-api-key header (403 otherwise):\n" +
    "  /wake   start the server (idempotent)\n" +
    "  /query  {status, publicIp, port}\n" +
    "  /kill   stop the server\n" +
    "Every minute the idle check stops a server with no streams for --idle-minutes.\n" +
    "Prints 'fluidity control-plane: listening on URL' when ready; Ctrl-C stops the\n" +
    "server child too.",
};

export interface ControlPlaneCommandOptions {
  /** argv for `fluidity <args>` used to start the local server child. Default {@linkcode fluidityCommand}. */
  serverCommand?: (args: string[]) => string[];
  /** Extra argv for the local server child. */
  serverExtraArgs?: string[];
}

interface Running {
  provider: Provider;
  close(): Promise<void>;
}

/** The `control-plane` subcommand. */
export function controlPlaneCommand(options: ControlPlaneCommandOptions = {}): Command {
  const spec = CONTROL_PLANE_SPEC;
  return {
    name: spec.name,
    summary: spec.summary,
    async run(args, ctx) {
      const parsed = parseOrHelp(spec, args, ctx.out);
      if (!parsed) return 0;
      const v = parsed.values as Record<string, string | undefined>;
      const kind = v["provider"];
      if (kind !== "local" && kind !== "aws") {
        throw new UsageError(
          `fluidity control-plane: --provider must be local or aws, got ${JSON.stringify(kind)}`,
        );
      }
      const apiKey = v["api-key"] || ctx.env["FLUIDITY_API_KEY"] || "";
      if (!apiKey) {
        throw new ConfigError(
          "fluidity control-plane: an API key is required: pass --api-key KEY or set FLUIDITY_API_KEY",
        );
      }
      const listen = v["listen"]!;
      try {
        parseHostPort(listen);
      } catch (e) {
        throw new ConfigError(`fluidity control-plane: --listen: ${(e as Error).message}`);
      }
      const idleMinutes = minutes(v, "idle-minutes");
      const graceMinutes = minutes(v, "grace-minutes");
      const level = v["log-level"] as LogLevel;
      const format = v["log-format"] as LogFormat;
      if (!LOG_LEVELS.includes(level)) {
        throw new ConfigError(
          `fluidity control-plane: --log-level must be one of ${LOG_LEVELS.join(", ")}`,
        );
      }
      if (!LOG_FORMATS.includes(format)) {
        throw new ConfigError(
          `fluidity control-plane: --log-format must be one of ${LOG_FORMATS.join(", ")}`,
        );
      }
      const logger = createLogger({ level, format, sink: ctx.err });

      const running = kind === "local"
        ? await localProvider(v, logger, options)
        : await awsProvider(v, ctx.env, logger);
      let cp;
      try {
        cp = await startControlPlane({
          listen,
          apiKey,
          provider: running.provider,
          logger,
          idleMinutes,
          graceMinutes,
        });
      } catch (e) {
        await running.close();
        throw e;
      }
      ctx.out(`fluidity control-plane: listening on ${cp.url}`);
      logger.info("control plane ready", { provider: kind, url: cp.url });
      await untilAborted(ctx.signal);
      logger.info("control plane stopping");
      await cp.close();
      await running.close();
      return 0;
    },
  };
}

function minutes(v: Record<string, string | undefined>, flag: string): number {
  const n = Number(v[flag]);
  if (!Number.isInteger(n) || n < 0 || n > 10_080) {
    throw new ConfigError(
      `fluidity control-plane: --${flag} must be a whole number of minutes (0-10080), got ${
        JSON.stringify(v[flag])
      }`,
    );
  }
  return n;
}

async function localProvider(
  v: Record<string, string | undefined>,
  logger: Logger,
  options: ControlPlaneCommandOptions,
): Promise<Running> {
  const dir = v["certs-dir"]!;
  for (const f of ["ca.crt", "server.crt", "server.key"]) {
    try {
      await Deno.stat(join(dir, f));
    } catch {
      throw new ConfigError(
        `fluidity control-plane: ${join(dir, f)} not found (--certs-dir ${dir}): ` +
          "create it with 'fluidity certs init' and 'fluidity certs issue server'",
      );
    }
  }
  const provider = createLocalProvider({
    command: options.serverCommand ?? ((args) => fluidityCommand(args)),
    certsDir: dir,
    logger,
    extraArgs: options.serverExtraArgs,
  });
  return { provider, close: () => provider.close() };
}

async function awsProvider(
  v: Record<string, string | undefined>,
  env: Record<string, string | undefined>,
  logger: Logger,
): Promise<Running> {
  for (const flag of ["cluster", "service"]) {
    if (!v[flag]) {
      throw new ConfigError(`fluidity control-plane: --provider aws needs --${flag}`);
    }
  }
  const region = v["region"] || env["AWS_REGION"] || env["AWS_DEFAULT_REGION"] || undefined;
  // The SDK is loaded only here: the agent and server never pay for it.
  const [{ createAwsProvider }, { ECSClient }, { EC2Client }, { CloudWatchClient }] = await Promise
    .all([
      import("../lifecycle/aws_provider.ts"),
      import("@aws-sdk/client-ecs"),
      import("@aws-sdk/client-ec2"),
      import("@aws-sdk/client-cloudwatch"),
    ]);
  const ecs = new ECSClient({ region });
  const ec2 = new EC2Client({ region });
  const cloudwatch = new CloudWatchClient({ region });
  const provider = createAwsProvider({
    ecs,
    ec2,
    cloudwatch,
    cluster: v["cluster"]!,
    service: v["service"]!,
    logger,
  });
  return {
    provider,
    close() {
      ecs.destroy();
      ec2.destroy();
      cloudwatch.destroy();
      return Promise.resolve();
    },
  };
}
