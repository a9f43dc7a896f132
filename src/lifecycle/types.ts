/**
 * The lifecycle contract: what the wake/query/kill API returns, and the
 * {@linkcode Provider} interface the handlers run over (ECS on AWS, a child
 * process locally). See `docs/lifecycle.md`.
 */

/** What `query` reports. `running` always comes with a public IP. */
export type ServerStatus = "running" | "starting" | "stopped";

/** `POST /wake` → 200. */
export interface WakeResponse {
  status: "waking" | "starting" | "already_running";
  desiredCount: 1;
  runningCount: number;
}

/** `POST /query` → 200. */
export interface QueryResponse {
  status: ServerStatus;
  /** The address the agent dials: public IP on AWS, `127.0.0.1` locally; null unless running. */
  publicIp: string | null;
  port: number;
}

/** `POST /kill` → 200. */
export interface KillResponse {
  status: "killed";
  desiredCount: 0;
}

/** What a scheduled `sleep` run decided. */
export interface SleepResult {
  action: "scaled_down" | "kept" | "already_stopped";
  reason: string;
}

/** The service as the provider sees it. */
export interface ProviderState {
  desiredCount: number;
  runningCount: number;
  pendingCount: number;
  /** Epoch ms the current server started (for the sleep grace period); null when none runs. */
  startedAt: number | null;
}

/** The server's own activity counters (CloudWatch on AWS, `/healthz` locally). */
export interface ServerActivity {
  /** Streams open now (latest sample); null when no sample exists. */
  activeConnections: number | null;
  /** Last time any stream carried traffic; null when no sample exists. */
  lastActivityEpochSeconds: number | null;
}

/**
 * Where the server runs. `scale` SETS the desired count (it never adds), so
 * calling `scale(1)` many times, even concurrently, still means one server:
 * that is what makes `wake` idempotent.
 */
export interface Provider {
  describe(): Promise<ProviderState>;
  scale(desiredCount: 0 | 1): Promise<void>;
  locate(): Promise<{ publicIp: string | null; port: number; status: ServerStatus }>;
  activity(): Promise<ServerActivity>;
}

/** A provider call failed (missing service, bad credentials, …): HTTP 500. */
export class ProviderError extends Error {
  override name = "ProviderError";
}

/** The cloud API throttled us: HTTP 503 with `Retry-After`, the client retries. */
export class ProviderThrottledError extends ProviderError {
  override name = "ProviderThrottledError";
  /** Seconds the caller should wait before retrying. */
  retryAfterSeconds: number;
  constructor(message: string, options: ErrorOptions & { retryAfterSeconds?: number } = {}) {
    super(message, options);
    this.retryAfterSeconds = options.retryAfterSeconds ?? 2;
  }
}
