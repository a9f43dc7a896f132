/**
 * The Lambda zips from `deno task layer` in S3. Keys carry a digest of the
 * zips (`PREFIX/<digest>/layer.zip`), so a new build gets new keys (which is
 * what makes CloudFormation update the functions) and a re-run with the same
 * zips uploads nothing.
 */
import {
  CreateBucketCommand,
  type CreateBucketCommandInput,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  GetBucketTaggingCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutBucketTaggingCommand,
  PutObjectCommand,
  PutPublicAccessBlockCommand,
} from "@aws-sdk/client-s3";
import { join } from "node:path";
import { ConfigError } from "../errors.ts";
import { awsError, awsErrorText, type DeployRun } from "./run.ts";
import { CREATED_BY_TAG, CREATED_BY_VALUE } from "./secrets.ts";

/** The files `infra/lambda.yaml` loads: the layer and one zip per function. */
export const ARTIFACT_FILES = ["layer.zip", "wake.zip", "query.zip", "kill.zip", "sleep.zip"];
const PREFIX_TAG = "fluidity:stack-prefix";

export interface Artifact {
  name: string;
  data: Uint8Array;
  /** Hex SHA-256 of the zip. */
  sha256: string;
}

export interface ArtifactSet {
  files: Artifact[];
  /** First 16 hex of the SHA-256 over every file's name and digest. */
  digest: string;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function base64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>));
}

/** Reads and hashes the zips; any missing one is a {@linkcode ConfigError} naming the build command. */
export async function readArtifacts(dir: string): Promise<ArtifactSet> {
  const missing: string[] = [];
  const files: Artifact[] = [];
  for (const name of ARTIFACT_FILES) {
    const path = join(dir, name);
    try {
      const data = await Deno.readFile(path);
      files.push({ name, data, sha256: hex(await sha256(data)) });
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) missing.push(path);
      else throw new ConfigError(`cannot read ${path}: ${(e as Error).message}`);
    }
  }
  if (missing.length > 0) {
    throw new ConfigError(
      `deploy up: Lambda artifacts missing: ${missing.join(", ")}; build them with ` +
        "'deno task layer' (or set artifacts_dir to where they are)",
    );
  }
  const manifest = files.map((f) => `${f.sha256}  ${f.name}\n`).join("");
  const digest = hex(await sha256(new TextEncoder().encode(manifest))).slice(0, 16);
  return { files, digest };
}

function notFound(e: unknown): boolean {
  const { name, status } = awsError(e);
  return status === 404 || name === "NotFound" || name === "NoSuchBucket" || name === "NoSuchKey";
}

/** HeadBucket: true if it exists and is ours to use, false if it does not exist. */
async function bucketExists(run: DeployRun, bucket: string): Promise<boolean> {
  try {
    await run.clients.s3.send(new HeadBucketCommand({ Bucket: bucket }));
    return true;
  } catch (e) {
    if (notFound(e)) return false;
    const { status, name } = awsError(e);
    if (status === 403 || name === "Forbidden") {
      throw new ConfigError(
        `S3 bucket ${bucket} exists but this account cannot use it (bucket names are global): ` +
          "set another bucket in deploy.yaml",
        { cause: e },
      );
    }
    if (status === 301 || name === "PermanentRedirect") {
      throw new ConfigError(
        `S3 bucket ${bucket} is in another region: set a bucket in this region in deploy.yaml`,
        { cause: e },
      );
    }
    throw new Error(`S3 HeadBucket ${bucket}: ${awsErrorText(e)}`, { cause: e });
  }
}

/** Creates the bucket (private, tagged as created by deploy) when it is missing. */
export async function ensureBucket(
  run: DeployRun,
  bucket: string,
  region: string,
  stackPrefix: string,
): Promise<{ created: boolean }> {
  if (await bucketExists(run, bucket)) {
    run.out(`  bucket ${bucket}: exists`);
    return { created: false };
  }
  const s3 = run.clients.s3;
  const input: CreateBucketCommandInput = { Bucket: bucket };
  // us-east-1 is the one region that rejects its own name as a location constraint.
  if (region !== "us-east-1") {
    input.CreateBucketConfiguration = {
      LocationConstraint: region as NonNullable<
        CreateBucketCommandInput["CreateBucketConfiguration"]
      >["LocationConstraint"],
    };
  }
  try {
    await s3.send(new CreateBucketCommand(input));
    await s3.send(
      new PutPublicAccessBlockCommand({
        Bucket: bucket,
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          IgnorePublicAcls: true,
          BlockPublicPolicy: true,
          RestrictPublicBuckets: true,
        },
      }),
    );
    await s3.send(
      new PutBucketTaggingCommand({
        Bucket: bucket,
        Tagging: {
          TagSet: [
            { Key: CREATED_BY_TAG, Value: CREATED_BY_VALUE },
            { Key: PREFIX_TAG, Value: stackPrefix },
          ],
        },
      }),
    );
  } catch (e) {
    throw new Error(`S3 bucket ${bucket}: cannot create it: ${awsErrorText(e)}`, { cause: e });
  }
  run.out(`  bucket ${bucket}: created`);
  return { created: true };
}

/** Uploads the zips not already under `prefix`; returns what was uploaded. */
export async function uploadArtifacts(
  run: DeployRun,
  bucket: string,
  prefix: string,
  set: ArtifactSet,
): Promise<{ uploaded: string[]; skipped: string[] }> {
  const s3 = run.clients.s3;
  const uploaded: string[] = [];
  const skipped: string[] = [];
  for (const f of set.files) {
    const key = `${prefix}${f.name}`;
    let present = false;
    try {
      const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      present = head.Metadata?.["sha256"] === undefined || head.Metadata["sha256"] === f.sha256;
    } catch (e) {
      if (!notFound(e)) {
        throw new Error(`S3 HeadObject s3://${bucket}/${key}: ${awsErrorText(e)}`, { cause: e });
      }
    }
    if (present) {
      skipped.push(f.name);
      continue;
    }
    const started = run.now();
    try {
      await s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: f.data,
          ContentType: "application/zip",
          ChecksumSHA256: base64(await sha256(f.data)),
          Metadata: { sha256: f.sha256 },
        }),
      );
    } catch (e) {
      throw new Error(`S3 upload s3://${bucket}/${key}: ${awsErrorText(e)}`, { cause: e });
    }
    const mb = (f.data.length / 1e6).toFixed(1);
    run.out(
      `  uploaded s3://${bucket}/${key} (${mb} MB, ${((run.now() - started) / 1000).toFixed(1)}s)`,
    );
    uploaded.push(f.name);
  }
  if (skipped.length > 0) {
    run.out(`  already in s3://${bucket}/${prefix}: ${skipped.join(", ")}`);
  }
  return { uploaded, skipped };
}

/**
 * Deletes every object under `root` (what `deploy up` uploaded), then the
 * bucket itself if `deploy up` created it and it is now empty.
 */
export async function deleteArtifacts(
  run: DeployRun,
  bucket: string,
  root: string,
): Promise<{ objects: number; bucketDeleted: boolean }> {
  const s3 = run.clients.s3;
  if (!(await bucketExists(run, bucket))) {
    run.out(`  bucket ${bucket}: not found, nothing to delete`);
    return { objects: 0, bucketDeleted: false };
  }
  let objects = 0;
  let token: string | undefined;
  do {
    const list = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: root, ContinuationToken: token }),
    );
    const keys = (list.Contents ?? []).map((o) => ({ Key: o.Key! }));
    if (keys.length > 0) {
      const out = await s3.send(
        new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }),
      );
      if (out.Errors?.length) {
        const e = out.Errors[0]!;
        throw new Error(`S3 DeleteObjects in ${bucket}: ${e.Key}: ${e.Code} ${e.Message ?? ""}`);
      }
      objects += keys.length;
    }
    token = list.IsTruncated ? list.NextContinuationToken : undefined;
  } while (token);
  run.out(`  bucket ${bucket}: deleted ${objects} object(s) under ${root}`);

  let ours = false;
  try {
    const t = await s3.send(new GetBucketTaggingCommand({ Bucket: bucket }));
    ours = t.TagSet?.some((x) => x.Key === CREATED_BY_TAG) ?? false;
  } catch (e) {
    if (awsError(e).name !== "NoSuchTagSet") {
      throw new Error(`S3 GetBucketTagging ${bucket}: ${awsErrorText(e)}`, { cause: e });
    }
  }
  if (!ours) {
    run.out(`  bucket ${bucket}: kept (not created by fluidity deploy)`);
    return { objects, bucketDeleted: false };
  }
  const rest = await s3.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1 }));
  if ((rest.KeyCount ?? rest.Contents?.length ?? 0) > 0) {
    run.out(`  bucket ${bucket}: kept (it holds other objects)`);
    return { objects, bucketDeleted: false };
  }
  await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
  run.out(`  bucket ${bucket}: deleted`);
  return { objects, bucketDeleted: true };
}
