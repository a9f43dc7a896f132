/** The server's activity counters, shared by /healthz, /metrics, the sleep check and CloudWatch. */
import { type MetricRow, prometheusText } from "../health/health_server.ts";

export class ServerMetrics {
  activeLinks = 0;
  linksTotal = 0;
  handshakeFailures = 0;
  activeStreams = 0;
  streamsTotal = 0;
  dialFailures = 0;
  policyRefusals = 0;
  bytesIn = 0;
  bytesOut = 0;
  /** Epoch ms of the last stream traffic or stream open. */
  lastActivityMs: number;
  readonly startedMs: number;
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
    this.startedMs = now();
    this.lastActivityMs = this.startedMs;
  }

  touch(): void {
    this.lastActivityMs = this.#now();
  }

  get lastActivityEpochSeconds(): number {
    return Math.floor(this.lastActivityMs / 1000);
  }

  /** JSON body of /healthz. */
  health(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      status: "ok",
      role: "server",
      activeLinks: this.activeLinks,
      activeStreams: this.activeStreams,
      lastActivityEpochSeconds: this.lastActivityEpochSeconds,
      uptimeSeconds: Math.floor((this.#now() - this.startedMs) / 1000),
      ...extra,
    };
  }

  /** Prometheus text exposition. */
  prometheus(extra: readonly MetricRow[] = []): string {
    return prometheusText([
      ["fluidity_active_links", "gauge", "mTLS links from agents", this.activeLinks],
      ["fluidity_links_total", "counter", "links accepted", this.linksTotal],
      [
        "fluidity_handshake_failures_total",
        "counter",
        "TLS handshakes refused",
        this.handshakeFailures,
      ],
      ["fluidity_active_streams", "gauge", "streams open", this.activeStreams],
      ["fluidity_streams_total", "counter", "streams opened", this.streamsTotal],
      ["fluidity_dial_failures_total", "counter", "target dials that failed", this.dialFailures],
      [
        "fluidity_policy_refusals_total",
        "counter",
        "targets refused by policy",
        this.policyRefusals,
      ],
      ["fluidity_bytes_in_total", "counter", "bytes from agents", this.bytesIn],
      ["fluidity_bytes_out_total", "counter", "bytes to agents", this.bytesOut],
      [
        "fluidity_last_activity_epoch_seconds",
        "gauge",
        "last stream activity",
        this.lastActivityEpochSeconds,
      ],
      ...extra,
    ]);
  }
}
