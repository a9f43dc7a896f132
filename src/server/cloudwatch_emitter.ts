/**
 * Publishes the server's activity to CloudWatch (namespace `Fluidity`,
 * dimension `Service=fluidity-server`): `ActiveConnections` (Count) and
 * `LastActivityEpochSeconds` (Seconds), every `intervalMs`. The scheduled
 * `sleep` reads them back. `@aws-sdk/client-cloudwatch` is imported only when
 * an emitter starts. A failed emit is logged and retried next tick, never thrown.
 */
import type { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import type { Logger } from "../log/logger.ts";
import type { ServerActivity } from "../lifecycle/types.ts";

export const METRICS_NAMESPACE = "Fluidity";
export const METRICS_SERVICE = "fluidity-server";

export interface CloudWatchEmitterOptions {
  /** Current counters, read at every tick. */
  read: () => ServerActivity & { activeConnections: number; lastActivityEpochSeconds: number };
  intervalMs: number;
  /** Default: a client created for `region` (or the SDK's default region chain). */
  client?: CloudWatchClient;
  region?: string;
  logger: Logger;
  /** Namespace. Default `"Fluidity"`. */
  namespace?: string;
  /** Value of the `Service` dimension. Default `"fluidity-server"`. */
  service?: string;
  setInterval?: typeof setInterval;
  clearInterval?: typeof clearInterval;
}

export interface CloudWatchEmitter {
  /** Stops the schedule (and destroys the client it created). */
  close(): void;
  /** Emits once now; resolves when done. Never rejects. */
  tick(): Promise<void>;
}

/** Starts emitting every `intervalMs`; the first emit happens after one interval (or on `tick()`). */
export function startCloudWatchEmitter(opts: CloudWatchEmitterOptions): CloudWatchEmitter {
  const log = opts.logger.child({ component: "cloudwatch" });
  const namespace = opts.namespace ?? METRICS_NAMESPACE;
  const service = opts.service ?? METRICS_SERVICE;
  const setIv = opts.setInterval ?? setInterval;
  const clearIv = opts.clearInterval ?? clearInterval;
  const sdk = import("@aws-sdk/client-cloudwatch");
  // Keep an import failure from surfacing as an unhandled rejection; tick() reports it.
  sdk.catch(() => {});
  let client: CloudWatchClient | undefined = opts.client;
  let ownClient = false;
  let inFlight: Promise<void> | null = null;
  let closed = false;
  let failures = 0;

  async function emit(): Promise<void> {
    const { PutMetricDataCommand, CloudWatchClient } = await sdk;
    if (closed) return;
    if (!client) {
      client = new CloudWatchClient(opts.region ? { region: opts.region } : {});
      ownClient = true;
    }
    const v = opts.read();
    const at = new Date();
    const dims = [{ Name: "Service", Value: service }];
    await client.send(
      new PutMetricDataCommand({
        Namespace: namespace,
        MetricData: [
          {
            MetricName: "ActiveConnections",
            Dimensions: dims,
            Unit: "Count",
            Value: v.activeConnections,
            Timestamp: at,
          },
          {
            MetricName: "LastActivityEpochSeconds",
            Dimensions: dims,
            Unit: "Seconds",
            Value: v.lastActivityEpochSeconds,
            Timestamp: at,
          },
        ],
      }),
    );
  }

  function tick(): Promise<void> {
    if (closed) return Promise.resolve();
    // One emit at a time: a slow API must not pile up requests.
    inFlight ??= emit().then(
      () => {
        if (failures > 0) log.info("CloudWatch metrics emit recovered", { failures });
        failures = 0;
      },
      (e) => {
        failures++;
        log.warn("CloudWatch metrics emit failed; retrying next interval", {
          error: e,
          failures,
        });
      },
    ).finally(() => inFlight = null);
    return inFlight;
  }

  const timer = setIv(() => void tick(), opts.intervalMs);
  return {
    close() {
      if (closed) return;
      closed = true;
      clearIv(timer);
      if (ownClient) client?.destroy();
    },
    tick,
  };
}
