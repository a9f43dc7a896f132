/**
 * Entry point of the Lambda layer (`runtime.js` after `deno bundle`): runs the
 * Runtime API loop for the function named by `$_HANDLER`. This is the only
 * module under `lambdas/` that exits the process: non-zero after a reported
 * init error or a Runtime API failure, so Lambda starts a fresh environment.
 */
import { loadHandlerFromEnv, runRuntime } from "./runtime.ts";

/** Optional deadline when the platform sends none usable (local emulators only). */
const FALLBACK_TIMEOUT_ENV = "FLUIDITY_LAMBDA_FALLBACK_TIMEOUT_MS";

async function main(): Promise<number> {
  const env = Deno.env.toObject();
  const api = env["AWS_LAMBDA_RUNTIME_API"];
  if (!api) {
    console.error("AWS_LAMBDA_RUNTIME_API is not set: this runtime runs inside AWS Lambda");
    return 2;
  }
  const fallback = env[FALLBACK_TIMEOUT_ENV];
  const fallbackTimeoutMs = fallback ? Number(fallback) : undefined;
  if (fallbackTimeoutMs !== undefined && !(fallbackTimeoutMs > 0)) {
    console.error(`${FALLBACK_TIMEOUT_ENV} must be a positive number of ms, got "${fallback}"`);
    return 2;
  }
  try {
    const result = await runRuntime({
      api,
      init: () => loadHandlerFromEnv(env),
      fallbackTimeoutMs,
    });
    return result.initError ? 1 : 0;
  } catch (err) {
    console.error(`runtime stopped: ${(err as Error).message}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main());
