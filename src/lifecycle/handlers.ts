/**
 * The lifecycle handlers: pure functions over a {@linkcode Provider}. The same
 * code serves the API Gateway Lambdas and the local control plane.
 *
 * @example
 * ```ts
 * const res = await wake({ provider });   // {"status":"waking","desiredCount":1,"runningCount":0}
 * const q = await query({ provider });    // {"status":"starting","publicIp":null,"port":8443}
 * ```
 */
import type { Logger } from "../log/logger.ts";
import type { KillResponse, Provider, QueryResponse, SleepResult, WakeResponse } from "./types.ts";

export interface LifecycleDeps {
  provider: Provider;
  /** Clock in epoch ms. Default `Date.now`. */
  now?: () => number;
  /** `sleep` scales down after this many minutes without connections or traffic. Default 15. */
  idleMinutes?: number;
  /** `sleep` never scales down a server that started less than this many minutes ago. Default 10. */
  graceMinutes?: number;
  logger?: Logger;
}

export const DEFAULT_IDLE_MINUTES = 15;
export const DEFAULT_GRACE_MINUTES = 10;

/**
 * Starts the server unless one is running or starting. Idempotent: it only
 * ever sets the desired count to 1, so concurrent wakes never start two.
 */
export async function wake(deps: LifecycleDeps): Promise<WakeResponse> {
  const state = await deps.provider.describe();
  if (state.desiredCount >= 1) {
    const status = state.runningCount >= 1 ? "already_running" : "starting";
    deps.logger?.debug("wake: server already wanted", { status, ...state });
    return { status, desiredCount: 1, runningCount: state.runningCount };
  }
  await deps.provider.scale(1);
  deps.logger?.info("wake: scaling the server to 1", { runningCount: state.runningCount });
  return { status: "waking", desiredCount: 1, runningCount: state.runningCount };
}

/** Where the server is. `running` is only reported together with an address. */
export async function query(deps: LifecycleDeps): Promise<QueryResponse> {
  const loc = await deps.provider.locate();
  if (loc.status === "running" && !loc.publicIp) {
    // A task can be RUNNING before its network interface has a public IP.
    return { status: "starting", publicIp: null, port: loc.port };
  }
  return {
    status: loc.status,
    publicIp: loc.status === "running" ? loc.publicIp : null,
    port: loc.port,
  };
}

/** Scales the server to zero. */
export async function kill(deps: LifecycleDeps): Promise<KillResponse> {
  await deps.provider.scale(0);
  deps.logger?.info("kill: scaled the server to 0");
  return { status: "killed", desiredCount: 0 };
}

/**
 * The scheduled idle check. Scales to zero when the server has had no active
 * connections and no traffic for `idleMinutes`, unless it started within
 * `graceMinutes`. With no activity sample at all, the server counts as idle
 * since it started.
 */
export async function sleep(deps: LifecycleDeps): Promise<SleepResult> {
  const now = (deps.now ?? Date.now)();
  const idleMinutes = deps.idleMinutes ?? DEFAULT_IDLE_MINUTES;
  const graceMinutes = deps.graceMinutes ?? DEFAULT_GRACE_MINUTES;
  const state = await deps.provider.describe();
  const result = await decide();
  if (result.action === "scaled_down") await deps.provider.scale(0);
  deps.logger?.info(`sleep: ${result.action}`, { reason: result.reason });
  return result;

  async function decide(): Promise<SleepResult> {
    if (state.desiredCount === 0) {
      return {
        action: "already_stopped",
        reason: state.runningCount > 0
          ? `desired count is already 0 (${state.runningCount} task(s) stopping)`
          : "no server is running",
      };
    }
    if (state.startedAt === null || state.runningCount === 0) {
      return { action: "kept", reason: "the server is starting" };
    }
    const upMinutes = (now - state.startedAt) / 60_000;
    if (upMinutes < graceMinutes) {
      return {
        action: "kept",
        reason: `started ${fmt(upMinutes)} min ago, within the ${graceMinutes} min grace period`,
      };
    }
    const act = await deps.provider.activity();
    if (act.activeConnections !== null && act.activeConnections > 0) {
      return { action: "kept", reason: `${act.activeConnections} active connection(s)` };
    }
    const startedSeconds = state.startedAt / 1000;
    const lastSeconds = Math.max(act.lastActivityEpochSeconds ?? 0, startedSeconds);
    const idleFor = (now / 1000 - lastSeconds) / 60;
    const since =
      act.lastActivityEpochSeconds !== null && act.lastActivityEpochSeconds >= startedSeconds
        ? "the last activity"
        : "it started (no activity recorded)";
    if (idleFor < idleMinutes) {
      return {
        action: "kept",
        reason: `idle ${fmt(idleFor)} min since ${since}, less than ${idleMinutes} min`,
      };
    }
    return {
      action: "scaled_down",
      reason: `no active connections and idle ${
        fmt(idleFor)
      } min since ${since} (limit ${idleMinutes} min)`,
    };
  }
}

function fmt(minutes: number): string {
  return (Math.max(0, Math.floor(minutes * 10)) / 10).toString();
}
