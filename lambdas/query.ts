/**
 * Lambda function `query` (handler `query.handler`, bundled to `query.js`):
 * `POST /query` through API Gateway: status and public IP of the server.
 * Configuration is read and checked here, at cold start: a bad value fails init.
 */
import { createLifecycleLambda } from "./lifecycle_lambda.ts";

export const handler = createLifecycleLambda("query", { env: Deno.env.toObject() });
