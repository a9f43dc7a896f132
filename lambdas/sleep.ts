/**
 * Lambda function `sleep` (handler `sleep.handler`, bundled to `sleep.js`):
 * EventBridge schedule (every 5 min): scale to 0 when the server has been idle.
 * Configuration is read and checked here, at cold start: a bad value fails init.
 */
import { createLifecycleLambda } from "./lifecycle_lambda.ts";

export const handler = createLifecycleLambda("sleep", { env: Deno.env.toObject() });
