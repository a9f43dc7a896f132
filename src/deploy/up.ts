/**
 * `fluidity deploy up`: credentials → prerequisites → certificates → secrets
 * → artifacts → server stack → control-plane stack (wired to the server
 * stack's outputs) → API key → agent certificate → agent.yaml. Every step
 * reuses what is already there, so running it again changes nothing unless
 * an input changed.
 */
import { GetApiKeyCommand } from "@aws-sdk/client-api-gateway";
import { DescribeSubnetsCommand, DescribeVpcsCommand } from "@aws-sdk/client-ec2";
import { join } from "node:path";
import {
  bucketName,
  type DeployConfig,
  deployNames,
  validateUpConfig,
} from "../config/deploy_config.ts";
import { ConfigError } from "../errors.ts";
import { writeAgentConfig } from "./agent_file.ts";
import { ensureBucket, readArtifacts, uploadArtifacts } from "./artifacts.ts";
import { checkCredentials } from "./credentials.ts";
import { ensureCa, ensureIssued } from "./pki.ts";
import {
  awsErrorText,
  type DeployRun,
  deployRun,
  type DeployRunOptions,
  elapsedTag,
  formatElapsed,
} from "./run.ts";
import { CREATED_BY_TAG, CREATED_BY_VALUE, putSecret } from "./secrets.ts";
import { type DeployedStack, deployStack } from "./stacks.ts";

/** What `up` produced (no secrets). */
export interface UpResult {
  account: string;
  apiUrl: string;
  apiKeyId: string;
  agentConfigPath: string;
  bucket: string;
  artifactPrefix: string;
  uploaded: string[];
  serverStack: DeployedStack;
  controlStack: DeployedStack;
}

/** Reads `fargate.yaml` and `lambda.yaml` from the templates directory. */
export async function readTemplates(
  dir: string | URL,
): Promise<{ fargate: string; lambda: string }> {
  const read = async (name: string) => {
    const where = typeof dir === "string" ? join(dir, name) : new URL(name, dir);
    try {
      return await Deno.readTextFile(where);
    } catch (e) {
      throw new ConfigError(
        `deploy: cannot read the CloudFormation template ${String(where)}: ${
          (e as Error).message.split("\n")[0]
        } (set templates_dir to the infra/ directory of a Fluidity checkout)`,
      );
    }
  };
  return { fargate: await read("fargate.yaml"), lambda: await read("lambda.yaml") };
}

/** The configured VPC and subnets, or the region's default VPC and its default subnets. */
export async function resolveNetwork(
  run: DeployRun,
  cfg: DeployConfig,
): Promise<{ vpcId: string; subnetIds: string[] }> {
  if (cfg.vpcId) return { vpcId: cfg.vpcId, subnetIds: cfg.subnetIds };
  const ec2 = run.clients.ec2;
  let vpcId: string | undefined;
  let subnetIds: string[] = [];
  try {
    const vpcs = await ec2.send(
      new DescribeVpcsCommand({ Filters: [{ Name: "is-default", Values: ["true"] }] }),
    );
    vpcId = vpcs.Vpcs?.[0]?.VpcId;
    if (vpcId) {
      const subnets = await ec2.send(
        new DescribeSubnetsCommand({
          Filters: [
            { Name: "vpc-id", Values: [vpcId] },
            { Name: "default-for-az", Values: ["true"] },
          ],
        }),
      );
      subnetIds = (subnets.Subnets ?? []).map((s) => s.SubnetId!).filter(Boolean).sort();
    }
  } catch (e) {
    throw new Error(`EC2: cannot look up the default VPC: ${awsErrorText(e)}`, { cause: e });
  }
  if (!vpcId) {
    throw new ConfigError(
      `deploy up: no default VPC in ${cfg.region}: set vpc_id and subnet_ids (public subnets) ` +
        "in deploy.yaml",
    );
  }
  if (subnetIds.length === 0) {
    throw new ConfigError(
      `deploy up: the default VPC ${vpcId} has no default subnets: set vpc_id and subnet_ids ` +
        "in deploy.yaml",
    );
  }
  return { vpcId, subnetIds };
}

function need(outputs: Record<string, string>, key: string, stack: string): string {
  const v = outputs[key];
  if (v === undefined || v === "") {
    throw new Error(
      `stack ${stack} has no output ${key}: is the deployed template older than infra/?`,
    );
  }
  return v;
}

/** Runs `deploy up`. Progress goes to `opts.out`; never the API key or a private key. */
export async function deployUp(cfg: DeployConfig, opts: DeployRunOptions): Promise<UpResult> {
  validateUpConfig(cfg);
  const run = deployRun(opts, cfg.waitTimeoutMs);
  const names = deployNames(cfg.stackPrefix);
  const t0 = run.now();
  const step = (title: string) => run.out(`${elapsedTag(run.now() - t0)} ${title}`);
  const tags = { [CREATED_BY_TAG]: CREATED_BY_VALUE, "fluidity:stack-prefix": cfg.stackPrefix };

  step("checking AWS credentials");
  const id = await checkCredentials(run.clients, cfg.region);
  run.out(`  account ${id.account} (${id.arn}), region ${cfg.region}`);

  step("checking prerequisites");
  const templates = await readTemplates(cfg.templatesDir || run.templatesDir);
  const artifacts = await readArtifacts(cfg.artifactsDir);
  run.out(`  artifacts in ${cfg.artifactsDir}: build ${artifacts.digest}`);
  const network = await resolveNetwork(run, cfg);
  run.out(`  network: ${network.vpcId}, subnets ${network.subnetIds.join(", ")}`);

  step("certificates");
  const indent = (line: string) => run.out(`  ${line}`);
  const ca = await ensureCa(cfg.certsDir, indent);
  const server = await ensureIssued(cfg.certsDir, ca.pair, {
    kind: "server",
    name: cfg.serverName,
    base: "server",
  }, indent);

  step("storing the server certificate, key and CA in Secrets Manager");
  const secretArns: Record<string, string> = {};
  for (
    const [key, name, value, what] of [
      ["ServerCertSecretArn", names.secrets.serverCert, server.certPem, "server certificate"],
      ["ServerKeySecretArn", names.secrets.serverKey, server.keyPem, "server private key"],
      ["CaCertSecretArn", names.secrets.caCert, ca.pair.certPem, "private CA certificate"],
    ] as const
  ) {
    const r = await putSecret(run, name, value, `Fluidity ${what} (PEM), from fluidity deploy`);
    secretArns[key] = r.arn;
    run.out(`  secret ${name}: ${r.action}`);
  }

  step("uploading the Lambda artifacts");
  const bucket = bucketName(cfg, id.account);
  await ensureBucket(run, bucket, cfg.region, cfg.stackPrefix);
  const artifactPrefix = `${names.artifactRoot}${artifacts.digest}/`;
  const { uploaded } = await uploadArtifacts(run, bucket, artifactPrefix, artifacts);

  step(`server stack ${names.serverStack} (infra/fargate.yaml)`);
  const serverStack = await deployStack(run, {
    name: names.serverStack,
    templateBody: templates.fargate,
    parameters: {
      ClusterName: names.cluster,
      ServiceName: names.service,
      ImageUri: cfg.imageUri,
      VpcId: network.vpcId,
      SubnetIds: network.subnetIds.join(","),
      AllowedCidr: cfg.allowedCidr,
      TunnelPort: String(cfg.tunnelPort),
      ServerCertSecretArn: secretArns["ServerCertSecretArn"]!,
      ServerKeySecretArn: secretArns["ServerKeySecretArn"]!,
      CaCertSecretArn: secretArns["CaCertSecretArn"]!,
      LogRetentionDays: String(cfg.logRetentionDays),
    },
    tags,
  });
  const cluster = need(serverStack.outputs, "ClusterName", names.serverStack);
  const service = need(serverStack.outputs, "ServiceName", names.serverStack);
  const port = need(serverStack.outputs, "TunnelPort", names.serverStack);

  step(`control-plane stack ${names.controlStack} (infra/lambda.yaml)`);
  const controlParams: Record<string, string> = {
    ClusterName: cluster,
    ServiceName: service,
    ServerPort: port,
    ArtifactBucket: bucket,
    ArtifactPrefix: artifactPrefix,
    IdleMinutes: String(cfg.idleMinutes),
    GraceMinutes: String(cfg.graceMinutes),
    KillScheduleExpression: cfg.killCron,
    LogRetentionDays: String(cfg.logRetentionDays),
    AlarmEmail: cfg.alarmEmail,
  };
  const controlStack = await deployStack(run, {
    name: names.controlStack,
    templateBody: templates.lambda,
    parameters: controlParams,
    tags,
  });
  const apiUrl = need(controlStack.outputs, "ApiUrl", names.controlStack);
  const apiKeyId = need(controlStack.outputs, "ApiKeyId", names.controlStack);

  step("reading the API key");
  let apiKey: string | undefined;
  try {
    const k = await run.clients.apiGateway.send(
      new GetApiKeyCommand({ apiKey: apiKeyId, includeValue: true }),
    );
    apiKey = k.value;
  } catch (e) {
    throw new Error(`API Gateway GetApiKey ${apiKeyId}: ${awsErrorText(e)}`, { cause: e });
  }
  if (!apiKey) throw new Error(`API Gateway GetApiKey ${apiKeyId} returned no value`);
  run.out(`  API key ${apiKeyId} (value written to the agent config only)`);

  step("agent certificate and config");
  const agent = await ensureIssued(cfg.certsDir, ca.pair, {
    kind: "agent",
    name: cfg.agentName,
    base: cfg.agentName,
  }, indent);
  const action = await writeAgentConfig(cfg.agentConfigPath, {
    lifecycleUrl: apiUrl,
    apiKey,
    cert: agent.certPath,
    key: agent.keyPath,
    ca: ca.certPath,
    serverName: cfg.serverName,
  }, { stack: names.controlStack, region: cfg.region });
  run.out(`  ${cfg.agentConfigPath}: ${action} (mode 0600)`);

  run.out(`${elapsedTag(run.now() - t0)} done in ${formatElapsed(run.now() - t0)}`);
  run.out(`lifecycle API: ${apiUrl}`);
  run.out(`server: ECS service ${service} in cluster ${cluster}, port ${port}, asleep until woken`);
  run.out(`next: fluidity agent --config ${cfg.agentConfigPath}`);
  return {
    account: id.account,
    apiUrl,
    apiKeyId,
    agentConfigPath: cfg.agentConfigPath,
    bucket,
    artifactPrefix,
    uploaded,
    serverStack,
    controlStack,
  };
}
