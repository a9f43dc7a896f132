/**
 * Lambda function `wake` (handler `wake.handler`, bundled to `wake.js`):
 * `POST /wake` through API Gateway: scale the server to 1 (idempotent).
 * Configuration is read and checked here, at cold start: a bad value fails init.
 */
import { createLifecycleLambda } from "./lifecycle_lambda.ts";

export const handler = createLifecycleLambda("wake", { env: Deno.env.toObject() });
