/** The first deploy step: are there AWS credentials, and does AWS accept them? */
import { GetCallerIdentityCommand } from "@aws-sdk/client-sts";
import { ConfigError } from "../errors.ts";
import type { DeployClients } from "./clients.ts";
import { awsError, awsErrorText } from "./run.ts";

export interface CallerIdentity {
  account: string;
  arn: string;
}

/** Errors that mean "AWS rejected these credentials". */
const REJECTED = new Set([
  "InvalidClientTokenId",
  "SignatureDoesNotMatch",
  "ExpiredToken",
  "ExpiredTokenException",
  "UnrecognizedClientException",
  "InvalidAccessKeyId",
  "AccessDenied",
  "AccessDeniedException",
  "AuthFailure",
]);

/**
 * STS GetCallerIdentity. Missing or rejected credentials become a
 * {@linkcode ConfigError} (exit 2) that says how to provide them; other
 * failures (network) are runtime errors.
 */
export async function checkCredentials(
  clients: Pick<DeployClients, "sts">,
  region: string,
): Promise<CallerIdentity> {
  try {
    const out = await clients.sts.send(new GetCallerIdentityCommand({}));
    if (!out.Account) throw new Error("STS GetCallerIdentity returned no account");
    return { account: out.Account, arn: out.Arn ?? "" };
  } catch (e) {
    const { name, message } = awsError(e);
    if (name === "CredentialsProviderError" || /could not load credentials/i.test(message)) {
      throw new ConfigError(
        "deploy: no AWS credentials found: set AWS_PROFILE (after 'aws configure' or " +
          "'aws sso login') or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        { cause: e },
      );
    }
    if (REJECTED.has(name)) {
      throw new ConfigError(
        `deploy: AWS rejected the credentials (${awsErrorText(e)}) in ${region}: ` +
          "check AWS_PROFILE / AWS_ACCESS_KEY_ID, or refresh an expired session",
        { cause: e },
      );
    }
    throw new Error(
      `cannot check AWS credentials (STS GetCallerIdentity in ${region}): ${awsErrorText(e)}`,
      { cause: e },
    );
  }
}
