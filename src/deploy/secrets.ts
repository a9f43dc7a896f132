/**
 * The server's TLS material in Secrets Manager, one secret per PEM (the task
 * definition injects them as `FLUIDITY_TLS_CERT/KEY/CA`). Values never reach
 * the output. Versions are tagged with a digest of the value, so a re-run
 * with the same certificates sends nothing.
 */
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  type DescribeSecretCommandOutput,
  PutSecretValueCommand,
  RestoreSecretCommand,
} from "@aws-sdk/client-secrets-manager";
import { awsError, awsErrorText, type DeployRun } from "./run.ts";

/** Tag put on everything `deploy up` creates; `down` deletes only what carries it. */
export const CREATED_BY_TAG = "fluidity:created-by";
export const CREATED_BY_VALUE = "fluidity deploy";

export type SecretAction = "created" | "updated" | "unchanged";

/**
 * Version ids are `<digest>-<random>`: the digest (48 hex) recognises the
 * current value without reading it back; the random part makes every new
 * version id unique (an old id with the same value would be silently ignored
 * by PutSecretValue instead of becoming current again).
 */
async function valueDigest(name: string, value: string): Promise<string> {
  const data = new TextEncoder().encode(`fluidity-secret-v1\n${name}\n${value}`);
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return Array.from(hash.subarray(0, 24), (b) => b.toString(16).padStart(2, "0")).join("");
}

function randomHex(bytes: number): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(bytes)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

async function describeSecret(
  run: DeployRun,
  name: string,
): Promise<DescribeSecretCommandOutput | null> {
  try {
    return await run.clients.secrets.send(new DescribeSecretCommand({ SecretId: name }));
  } catch (e) {
    if (awsError(e).name === "ResourceNotFoundException") return null;
    throw new Error(`Secrets Manager DescribeSecret ${name}: ${awsErrorText(e)}`, { cause: e });
  }
}

/**
 * Creates the secret or makes `value` its current version (restoring a
 * secret that `deploy down` scheduled for deletion). Returns its ARN.
 */
export async function putSecret(
  run: DeployRun,
  name: string,
  value: string,
  description: string,
): Promise<{ arn: string; action: SecretAction }> {
  const sm = run.clients.secrets;
  const digest = await valueDigest(name, value);
  const token = `${digest}-${randomHex(6)}`;
  const existing = await describeSecret(run, name);
  try {
    if (!existing) {
      const out = await sm.send(
        new CreateSecretCommand({
          Name: name,
          Description: description,
          SecretString: value,
          ClientRequestToken: token,
          Tags: [{ Key: CREATED_BY_TAG, Value: CREATED_BY_VALUE }],
        }),
      );
      return { arn: out.ARN!, action: "created" };
    }
    if (existing.DeletedDate) {
      await sm.send(new RestoreSecretCommand({ SecretId: existing.ARN ?? name }));
      run.out(`secret ${name}: restored (it was scheduled for deletion)`);
    }
    const current = Object.entries(existing.VersionIdsToStages ?? {})
      .find(([, stages]) => stages.includes("AWSCURRENT"))?.[0];
    if (current?.startsWith(`${digest}-`)) return { arn: existing.ARN!, action: "unchanged" };
    await sm.send(
      new PutSecretValueCommand({
        SecretId: existing.ARN ?? name,
        SecretString: value,
        ClientRequestToken: token,
      }),
    );
    return { arn: existing.ARN!, action: "updated" };
  } catch (e) {
    // The message names the secret and the AWS error, never the value.
    throw new Error(`secret ${name}: ${awsErrorText(e)}`, { cause: e });
  }
}

export type SecretDeletion = "deleted" | "absent" | "already scheduled" | "not ours";

/**
 * Schedules deletion (7-day recovery window: `deploy up` restores it) of a
 * secret `deploy up` created; leaves secrets without the created-by tag.
 */
export async function deleteSecret(run: DeployRun, name: string): Promise<SecretDeletion> {
  const existing = await describeSecret(run, name);
  if (!existing) return "absent";
  if (existing.DeletedDate) return "already scheduled";
  if (!existing.Tags?.some((t) => t.Key === CREATED_BY_TAG)) return "not ours";
  try {
    await run.clients.secrets.send(
      new DeleteSecretCommand({ SecretId: existing.ARN ?? name, RecoveryWindowInDays: 7 }),
    );
  } catch (e) {
    throw new Error(`secret ${name}: DeleteSecret failed: ${awsErrorText(e)}`, { cause: e });
  }
  return "deleted";
}
