/**
 * A Lambda custom runtime for Deno: the Runtime API (2018-06-01) loop.
 *
 * `GET /runtime/invocation/next` → `handler(event, context)` →
 * `POST /runtime/invocation/{id}/response` (or `/error` with
 * `{errorMessage, errorType, stackTrace}`); a failing init is reported once to
 * `POST /runtime/init/error`. The network (`fetch`), the clock and the number
 * of invocations are injected so tests can drive the loop against a fake API.
 *
 * @example
 * ```ts
 * const result = await runRuntime({
 *   api: Deno.env.get("AWS_LAMBDA_RUNTIME_API")!,
 *   init: () => loadHandlerFromEnv(Deno.env.toObject()),
 * });
 * ```
 */

/** What a handler sees besides its event. */
export interface LambdaContext {
  /** `Lambda-Runtime-Aws-Request-Id`. */
  requestId: string;
  /** Deadline, epoch milliseconds; `Infinity` when the platform gave none. */
  deadlineMs: number;
  /** `Lambda-Runtime-Invoked-Function-Arn` ("" when absent). */
  functionArn: string;
  /** `Lambda-Runtime-Trace-Id` ("" when absent). */
  traceId: string;
  /** Milliseconds left before the deadline (never negative). */
  remainingMs(): number;
  /** Aborted when the deadline passes: long work should stop then. */
  signal: AbortSignal;
}

/** A function handler: its return value is JSON-encoded as the response. */
export type LambdaHandler<E = unknown, R = unknown> = (
  event: E,
  context: LambdaContext,
) => R | Promise<R>;

/** The error document the Runtime API expects. */
export interface LambdaErrorBody {
  errorMessage: string;
  errorType: string;
  stackTrace?: string[];
}

/** An error whose `errorType` is chosen on purpose (e.g. `Runtime.HandlerNotFound`). */
export class RuntimeError extends Error {
  override name = "RuntimeError";
  /** Reported as `errorType`. */
  readonly errorType: string;
  constructor(errorType: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.errorType = errorType;
  }
}

export interface RuntimeOptions {
  /** `host:port` of the Runtime API, i.e. `$AWS_LAMBDA_RUNTIME_API`. */
  api: string;
  /** Loads the handler once; a throw is reported to `/runtime/init/error`. */
  init: () => LambdaHandler | Promise<LambdaHandler>;
  /** Default: the global `fetch`. */
  fetch?: typeof fetch;
  /** Default: `Date.now`. */
  now?: () => number;
  /** Stop after this many invocations (tests). Default: `Infinity`. */
  maxInvocations?: number;
  /**
   * Deadline to enforce when `Lambda-Runtime-Deadline-Ms` is missing or not a
   * plausible epoch time (some local emulators send a constant). Default: none.
   */
  fallbackTimeoutMs?: number;
  /** Where diagnostic lines go (CloudWatch reads stderr). Default: `console.error`. */
  log?: (line: string) => void;
  /** Aborts the wait for the next invocation. */
  signal?: AbortSignal;
}

/** How the loop ended. */
export interface RuntimeResult {
  /** Invocations answered (response or error). */
  invocations: number;
  /** Set when init failed and was reported; the process should then exit non-zero. */
  initError?: LambdaErrorBody;
}

const API_VERSION = "2018-06-01";
/** Deadlines before this (2001-09-09) are not epoch milliseconds: an emulator's placeholder. */
const PLAUSIBLE_EPOCH_MS = 1e12;
/** Lambda's own message for a timeout, e.g. "Task timed out after 3.00 seconds". */
const TIMEOUT_ERROR_TYPE = "Sandbox.Timedout";

/** Converts anything thrown into the Runtime API error document. */
export function toErrorBody(err: unknown): LambdaErrorBody {
  if (err instanceof RuntimeError) {
    return { errorMessage: err.message, errorType: err.errorType, stackTrace: stackOf(err) };
  }
  if (err instanceof Error) {
    return { errorMessage: err.message, errorType: err.name || "Error", stackTrace: stackOf(err) };
  }
  return { errorMessage: String(err), errorType: "Error" };
}

function stackOf(err: Error): string[] {
  // The first stack line repeats name and message, which are already fields.
  return (err.stack ?? "").split("\n").slice(1).map((l) => l.trim()).filter((l) => l);
}

/**
 * Runs the Runtime API loop: init once, then next → handler → response/error
 * until `maxInvocations` or `signal`. Rejects when the Runtime API itself fails
 * (Lambda then restarts the environment).
 */
export async function runRuntime(options: RuntimeOptions): Promise<RuntimeResult> {
  const doFetch = options.fetch ?? fetch;
  const now = options.now ?? Date.now;
  const log = options.log ?? ((line: string) => console.error(line));
  const max = options.maxInvocations ?? Infinity;
  const base = `http://${options.api}/${API_VERSION}/runtime`;

  async function post(path: string, body: string, errorType?: string): Promise<void> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (errorType) headers["lambda-runtime-function-error-type"] = errorType;
    const res = await doFetch(`${base}${path}`, { method: "POST", headers, body });
    const text = await res.text();
    if (!res.ok) {
      throw new Error(`Runtime API POST ${path} answered ${res.status}: ${text.slice(0, 200)}`);
    }
  }

  let handler: LambdaHandler;
  try {
    handler = await options.init();
  } catch (err) {
    const body = toErrorBody(err);
    log(`init failed: ${body.errorType}: ${body.errorMessage}`);
    await post("/init/error", JSON.stringify(body), body.errorType);
    return { invocations: 0, initError: body };
  }

  let invocations = 0;
  while (invocations < max) {
    const res = await doFetch(`${base}/invocation/next`, { signal: options.signal });
    const payload = await res.text();
    if (!res.ok) {
      throw new Error(`Runtime API GET next answered ${res.status}: ${payload.slice(0, 200)}`);
    }
    const requestId = res.headers.get("lambda-runtime-aws-request-id");
    if (!requestId) throw new Error("Runtime API GET next gave no Lambda-Runtime-Aws-Request-Id");
    invocations++;
    const idPath = `/invocation/${encodeURIComponent(requestId)}`;
    const outcome = await invokeOnce(handler, payload, {
      requestId,
      deadlineMs: deadlineOf(res.headers, now(), options.fallbackTimeoutMs, log),
      functionArn: res.headers.get("lambda-runtime-invoked-function-arn") ?? "",
      traceId: res.headers.get("lambda-runtime-trace-id") ?? "",
      now,
    });
    if ("error" in outcome) {
      log(`${requestId} failed: ${outcome.error.errorType}: ${outcome.error.errorMessage}`);
      await post(`${idPath}/error`, JSON.stringify(outcome.error), outcome.error.errorType);
      continue;
    }
    try {
      await post(`${idPath}/response`, outcome.body);
    } catch (err) {
      // e.g. 413 for a response over 6 MB: the invocation still needs an outcome.
      const body = toErrorBody(
        new RuntimeError("Runtime.ResponseRejected", (err as Error).message),
      );
      log(`${requestId} response rejected: ${body.errorMessage}`);
      await post(`${idPath}/error`, JSON.stringify(body), body.errorType);
    }
  }
  return { invocations };
}

function deadlineOf(
  headers: Headers,
  nowMs: number,
  fallbackTimeoutMs: number | undefined,
  log: (line: string) => void,
): number {
  const raw = headers.get("lambda-runtime-deadline-ms");
  const value = raw === null ? NaN : Number(raw);
  if (Number.isFinite(value) && value >= PLAUSIBLE_EPOCH_MS) return value;
  if (raw !== null) log(`ignoring implausible Lambda-Runtime-Deadline-Ms ${JSON.stringify(raw)}`);
  return fallbackTimeoutMs === undefined ? Infinity : nowMs + fallbackTimeoutMs;
}

interface InvocationMeta {
  requestId: string;
  deadlineMs: number;
  functionArn: string;
  traceId: string;
  now: () => number;
}

async function invokeOnce(
  handler: LambdaHandler,
  payload: string,
  meta: InvocationMeta,
): Promise<{ body: string } | { error: LambdaErrorBody }> {
  let event: unknown;
  try {
    event = payload === "" ? null : JSON.parse(payload);
  } catch (err) {
    return { error: toErrorBody(new RuntimeError("Runtime.UnmarshalError", String(err))) };
  }
  const receivedMs = meta.now();
  const controller = new AbortController();
  const context: LambdaContext = {
    requestId: meta.requestId,
    deadlineMs: meta.deadlineMs,
    functionArn: meta.functionArn,
    traceId: meta.traceId,
    remainingMs: () => Math.max(0, meta.deadlineMs - meta.now()),
    signal: controller.signal,
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    if (meta.deadlineMs === Infinity) return;
    timer = setTimeout(() => resolve("timeout"), Math.max(0, meta.deadlineMs - meta.now()));
  });
  try {
    const result = await Promise.race([
      Promise.resolve().then(() => handler(event, context)).then((value) => ({ value })),
      timedOut,
    ]);
    if (result === "timeout") {
      const seconds = (context.deadlineMs - receivedMs) / 1000;
      controller.abort(new Error("Task timed out"));
      // Lambda itself also ends a timed-out environment; this answer is for
      // emulators and so the handler's own signal fires.
      return {
        error: {
          errorMessage: `Task timed out after ${seconds.toFixed(2)} seconds`,
          errorType: TIMEOUT_ERROR_TYPE,
        },
      };
    }
    try {
      return { body: JSON.stringify(result.value) ?? "null" };
    } catch (err) {
      return { error: toErrorBody(new RuntimeError("Runtime.MarshalError", String(err))) };
    }
  } catch (err) {
    return { error: toErrorBody(err) };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Resolves `$_HANDLER` (`module.export`, e.g. `wake.handler`) against
 * `$LAMBDA_TASK_ROOT` (`<root>/wake.js`) and imports it. Throws
 * {@linkcode RuntimeError} with Lambda's error types for a missing setting,
 * module or export; an error thrown while the module initialises (e.g. bad
 * configuration) propagates unchanged so its own name and message are reported.
 */
export async function loadHandlerFromEnv(
  env: Record<string, string | undefined>,
  importModule: (url: string) => Promise<Record<string, unknown>> = (url) => import(url),
): Promise<LambdaHandler> {
  const spec = env["_HANDLER"];
  const root = env["LAMBDA_TASK_ROOT"];
  if (!spec) throw new RuntimeError("Runtime.NoSuchHandler", "_HANDLER is not set");
  if (!root) throw new RuntimeError("Runtime.NoSuchHandler", "LAMBDA_TASK_ROOT is not set");
  const dot = spec.lastIndexOf(".");
  if (dot <= 0 || dot === spec.length - 1) {
    throw new RuntimeError(
      "Runtime.MalformedHandlerName",
      `_HANDLER "${spec}" is not of the form module.export (e.g. wake.handler)`,
    );
  }
  const moduleName = spec.slice(0, dot);
  const exportName = spec.slice(dot + 1);
  const path = `${root.replace(/\/+$/, "")}/${moduleName}.js`;
  try {
    await Deno.stat(path);
  } catch (err) {
    throw new RuntimeError(
      "Runtime.ImportModuleError",
      `Cannot find handler module ${path} (from _HANDLER "${spec}")`,
      { cause: err },
    );
  }
  const mod = await importModule(new URL(`file://${path}`).href);
  const fn = mod[exportName];
  if (typeof fn !== "function") {
    throw new RuntimeError(
      "Runtime.HandlerNotFound",
      `${moduleName}.js has no exported function "${exportName}" (from _HANDLER "${spec}")`,
    );
  }
  return fn as LambdaHandler;
}
