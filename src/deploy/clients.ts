/**
 * The AWS clients the deploy manager uses, injected as one object so tests
 * pass `aws-sdk-client-mock`ed instances. {@linkcode createDeployClients}
 * loads the SDK with dynamic imports: nothing else in Fluidity pays for it.
 */
import type { APIGatewayClient } from "@aws-sdk/client-api-gateway";
import type { CloudFormationClient } from "@aws-sdk/client-cloudformation";
import type { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import type { EC2Client } from "@aws-sdk/client-ec2";
import type { ECSClient } from "@aws-sdk/client-ecs";
import type { S3Client } from "@aws-sdk/client-s3";
import type { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { STSClient } from "@aws-sdk/client-sts";

export interface DeployClients {
  sts: STSClient;
  cloudformation: CloudFormationClient;
  s3: S3Client;
  secrets: SecretsManagerClient;
  apiGateway: APIGatewayClient;
  ec2: EC2Client;
  ecs: ECSClient;
  cloudwatch: CloudWatchClient;
}

/** Real clients for `region`, credentials from the SDK's default chain. */
export async function createDeployClients(region: string): Promise<DeployClients> {
  const [apigw, cfn, cw, ec2, ecs, s3, sm, sts] = await Promise.all([
    import("@aws-sdk/client-api-gateway"),
    import("@aws-sdk/client-cloudformation"),
    import("@aws-sdk/client-cloudwatch"),
    import("@aws-sdk/client-ec2"),
    import("@aws-sdk/client-ecs"),
    import("@aws-sdk/client-s3"),
    import("@aws-sdk/client-secrets-manager"),
    import("@aws-sdk/client-sts"),
  ]);
  return {
    sts: new sts.STSClient({ region }),
    cloudformation: new cfn.CloudFormationClient({ region }),
    s3: new s3.S3Client({ region }),
    secrets: new sm.SecretsManagerClient({ region }),
    apiGateway: new apigw.APIGatewayClient({ region }),
    ec2: new ec2.EC2Client({ region }),
    ecs: new ecs.ECSClient({ region }),
    cloudwatch: new cw.CloudWatchClient({ region }),
  };
}

/** Closes the clients' connection pools. */
export function destroyDeployClients(c: DeployClients): void {
  for (const client of Object.values(c)) (client as { destroy(): void }).destroy();
}
