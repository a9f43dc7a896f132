/**
 * Lambda function `kill` (handler `kill.handler`, bundled to `kill.js`):
 * `POST /kill` through API Gateway, and the daily EventBridge schedule: scale to 0.
 * Configuration is read and checked here, at cold start: a bad value fails init.
 */
import { createLifecycleLambda } from "./lifecycle_lambda.ts";

export const handler = createLifecycleLambda("kill", { env: Deno.env.toObject() });
