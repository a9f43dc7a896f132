/**
 * An in-memory {@linkcode Provider} for tests: a service whose desired count
 * is set by `scale`, whose tasks start when the test says so, and whose
 * activity and failures the test controls.
 */
import type { Provider, ProviderState, ServerActivity, ServerStatus } from "./types.ts";

export interface FakeProvider extends Provider {
  /** Mutable state the test drives. */
  state: {
    desiredCount: number;
    runningCount: number;
    pendingCount: number;
    startedAt: number | null;
    publicIp: string | null;
    port: number;
    activity: ServerActivity;
  };
  /** How many times a server was started (a 0 → 1 transition of the desired count). */
  starts: number;
  /** Every call, in order: `describe`, `scale(1)`, … */
  calls: string[];
  /** When set, the next calls of that method throw it. */
  failWith: Partial<Record<"describe" | "scale" | "locate" | "activity", Error>>;
  /** Marks the pending server running (at `startedAt`, with `publicIp`). */
  markRunning(startedAt: number, publicIp?: string): void;
}

/** Creates a stopped fake service. `delay` makes each call yield that many microtasks. */
export function createFakeProvider(options: { port?: number; delay?: number } = {}): FakeProvider {
  const delay = options.delay ?? 1;
  async function tick(): Promise<void> {
    for (let i = 0; i < delay; i++) await Promise.resolve();
  }
  const fake: FakeProvider = {
    state: {
      desiredCount: 0,
      runningCount: 0,
      pendingCount: 0,
      startedAt: null,
      publicIp: null,
      port: options.port ?? 8443,
      activity: { activeConnections: null, lastActivityEpochSeconds: null },
    },
    starts: 0,
    calls: [],
    failWith: {},
    markRunning(startedAt, publicIp = "203.0.113.10") {
      fake.state.desiredCount = 1;
      fake.state.pendingCount = 0;
      fake.state.runningCount = 1;
      fake.state.startedAt = startedAt;
      fake.state.publicIp = publicIp;
    },
    async describe(): Promise<ProviderState> {
      fake.calls.push("describe");
      await tick();
      if (fake.failWith.describe) throw fake.failWith.describe;
      const { desiredCount, runningCount, pendingCount, startedAt } = fake.state;
      return { desiredCount, runningCount, pendingCount, startedAt };
    },
    async scale(n) {
      fake.calls.push(`scale(${n})`);
      await tick();
      if (fake.failWith.scale) throw fake.failWith.scale;
      if (n === 1 && fake.state.desiredCount === 0) {
        fake.starts++;
        if (fake.state.runningCount === 0) fake.state.pendingCount = 1;
      }
      if (n === 0) {
        fake.state.runningCount = 0;
        fake.state.pendingCount = 0;
        fake.state.startedAt = null;
        fake.state.publicIp = null;
      }
      fake.state.desiredCount = n;
    },
    async locate() {
      fake.calls.push("locate");
      await tick();
      if (fake.failWith.locate) throw fake.failWith.locate;
      const s = fake.state;
      const status: ServerStatus = s.runningCount > 0
        ? "running"
        : s.desiredCount > 0
        ? "starting"
        : "stopped";
      return { status, publicIp: s.publicIp, port: s.port };
    },
    async activity() {
      fake.calls.push("activity");
      await tick();
      if (fake.failWith.activity) throw fake.failWith.activity;
      return { ...fake.state.activity };
    },
  };
  return fake;
}
