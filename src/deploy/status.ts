/**
 * `fluidity deploy status`: the two stacks, the ECS service's desired and
 * running counts, the server's current public IP and its last activity, read
 * through the same `aws` provider the lifecycle Lambdas use.
 */
import { type DeployConfig, deployNames } from "../config/deploy_config.ts";
import { createAwsProvider } from "../lifecycle/aws_provider.ts";
import { checkCredentials } from "./credentials.ts";
import { deployRun, type DeployRunOptions, formatElapsed } from "./run.ts";
import { describeStack, outputsOf } from "./stacks.ts";

export interface StatusResult {
  stacks: Array<{ name: string; status: string | null }>;
  service: { desiredCount: number; runningCount: number; pendingCount: number } | null;
  server: { status: string; publicIp: string | null; port: number } | null;
  activity: { activeConnections: number | null; lastActivityEpochSeconds: number | null } | null;
  apiUrl: string | null;
}

/** Prints the deployment's state; a missing stack is reported, not an error. */
export async function deployStatus(
  cfg: DeployConfig,
  opts: DeployRunOptions,
): Promise<StatusResult> {
  const run = deployRun(opts, cfg.waitTimeoutMs);
  const names = deployNames(cfg.stackPrefix);
  const id = await checkCredentials(run.clients, cfg.region);
  run.out(`account ${id.account}, region ${cfg.region}`);

  const server = await describeStack(run, names.serverStack);
  const control = await describeStack(run, names.controlStack);
  const result: StatusResult = {
    stacks: [
      { name: names.serverStack, status: server?.StackStatus ?? null },
      { name: names.controlStack, status: control?.StackStatus ?? null },
    ],
    service: null,
    server: null,
    activity: null,
    apiUrl: outputsOf(control)["ApiUrl"] ?? null,
  };
  const width = Math.max(...result.stacks.map((s) => s.name.length));
  for (const [s, st] of [[server, result.stacks[0]!], [control, result.stacks[1]!]] as const) {
    const when = s?.LastUpdatedTime ?? s?.CreationTime;
    const since = when ? `, since ${when.toISOString().replace(/\.\d{3}Z$/, "Z")}` : "";
    run.out(`stack ${st.name.padEnd(width)}  ${st.status ?? "not deployed"}${since}`);
  }
  if (result.apiUrl) run.out(`lifecycle API: ${result.apiUrl}`);

  const out = outputsOf(server);
  if (!server || !out["ClusterName"] || !out["ServiceName"]) {
    run.out("server: not deployed (run: fluidity deploy up)");
    return result;
  }
  const port = Number(out["TunnelPort"] ?? "8443");
  const provider = createAwsProvider({
    ecs: run.clients.ecs,
    ec2: run.clients.ec2,
    cloudwatch: run.clients.cloudwatch,
    cluster: out["ClusterName"],
    service: out["ServiceName"],
    port,
    now: run.now,
  });
  try {
    const d = await provider.describe();
    result.service = {
      desiredCount: d.desiredCount,
      runningCount: d.runningCount,
      pendingCount: d.pendingCount,
    };
    run.out(
      `service ${out["ServiceName"]} (cluster ${out["ClusterName"]}): desired ${d.desiredCount}, ` +
        `running ${d.runningCount}, pending ${d.pendingCount}`,
    );
    const loc = await provider.locate();
    result.server = loc;
    run.out(
      loc.publicIp
        ? `server: ${loc.status} at ${loc.publicIp}:${loc.port}`
        : `server: ${loc.status} (no public IP)`,
    );
  } catch (e) {
    run.out(`service: cannot read it: ${(e as Error).message}`);
  }
  try {
    const a = await provider.activity();
    result.activity = a;
    if (a.lastActivityEpochSeconds === null) {
      run.out("last activity: no samples in the last hour");
    } else {
      const ago = run.now() - a.lastActivityEpochSeconds * 1000;
      const at = new Date(a.lastActivityEpochSeconds * 1000).toISOString().replace(
        /\.\d{3}Z$/,
        "Z",
      );
      run.out(
        `last activity: ${at} (${formatElapsed(ago)} ago), active connections ${
          a.activeConnections ?? "unknown"
        }`,
      );
    }
  } catch (e) {
    run.out(`last activity: cannot read it: ${(e as Error).message}`);
  }
  return result;
}
