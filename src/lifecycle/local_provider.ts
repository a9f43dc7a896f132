/**
 * The `local` provider: each wake starts a real `fluidity server` child on
 * 127.0.0.1 with a fresh ephemeral port (standing in for a new public IP),
 * kill stops it (SIGTERM, then SIGKILL after a grace period), activity reads
 * the child's `/healthz`. A child that exits on its own is reported stopped,
 * so the next wake starts a new one.
 *
 * Child contract: argv `server --listen 127.0.0.1:0 --health-listen 127.0.0.1:0
 * --cert D/server.crt --key D/server.key --ca D/ca.crt --allow-private-targets
 * --log-format json` (+ extraArgs); when ready it prints one stdout line
 * `fluidity server: listening on 127.0.0.1:PORT (health http://127.0.0.1:HPORT)`;
 * logs go to stderr; SIGTERM drains and exits.
 */
import { join } from "node:path";
import { type Logger, silentLogger } from "../log/logger.ts";
import {
  type Provider,
  ProviderError,
  type ProviderState,
  type ServerActivity,
  type ServerStatus,
} from "./types.ts";

export interface LocalProviderOptions {
  /** Full argv for `fluidity <args>`, e.g. {@linkcode fluidityCommand}. */
  command: (args: string[]) => string[];
  /** Directory holding `server.crt`, `server.key`, `ca.crt`. */
  certsDir: string;
  logger?: Logger;
  /** SIGTERM → SIGKILL delay. Default 5000 ms. */
  killGraceMs?: number;
  /** Appended to the child's argv. */
  extraArgs?: string[];
  /** A child that has not printed its ready line by then is killed. Default 60 s. */
  readyTimeoutMs?: number;
  /** Timeout of one `/healthz` read. Default 2000 ms. */
  healthTimeoutMs?: number;
  /** Clock in epoch ms. Default `Date.now`. */
  now?: () => number;
  /** Called when a child exits; `expected` is false for crashes. */
  onExit?: (info: ChildExit) => void;
}

export interface ChildExit {
  pid: number;
  code: number;
  signal: string | null;
  expected: boolean;
}

export interface LocalProvider extends Provider {
  /** Stops the child (if any) and waits until every child has exited; later wakes fail. */
  close(): Promise<void>;
  /** Resolves once the current child is ready or gone (immediately when none is starting). */
  whenSettled(): Promise<void>;
  /** PID of the current child, or null. */
  pid(): number | null;
}

const READY = /^fluidity server: listening on (\S+):(\d+) \(health http:\/\/(\S+):(\d+)\)\s*$/;
const TAIL_LINES = 8;

interface Child {
  proc: Deno.ChildProcess;
  pid: number;
  state: "starting" | "running";
  host: string;
  port: number;
  healthUrl: string;
  startedAt: number | null;
  expectedExit: boolean;
  exitedFlag: boolean;
  /** Last stderr lines, shown when the child dies unexpectedly. */
  tail: string[];
  settled: PromiseWithResolvers<void>;
  exited: Promise<Deno.CommandStatus>;
  /** Exit and both pipes drained. */
  done: Promise<void>;
}

/** Creates the provider; nothing starts until `scale(1)`. */
export function createLocalProvider(opts: LocalProviderOptions): LocalProvider {
  const log = (opts.logger ?? silentLogger()).child({ component: "local-provider" });
  const killGraceMs = opts.killGraceMs ?? 5000;
  const readyTimeoutMs = opts.readyTimeoutMs ?? 60_000;
  const healthTimeoutMs = opts.healthTimeoutMs ?? 2000;
  const now = opts.now ?? Date.now;
  let current: Child | null = null;
  const live = new Set<Child>();
  let closed = false;

  function serverArgs(): string[] {
    return [
      "server",
      "--listen",
      "127.0.0.1:0",
      "--health-listen",
      "127.0.0.1:0",
      "--cert",
      join(opts.certsDir, "server.crt"),
      "--key",
      join(opts.certsDir, "server.key"),
      "--ca",
      join(opts.certsDir, "ca.crt"),
      "--allow-private-targets",
      "--log-format",
      "json",
      "--exit-with-stdin",
      ...(opts.extraArgs ?? []),
    ];
  }

  function start(): Child {
    const [cmd, ...args] = opts.command(serverArgs());
    if (!cmd) throw new ProviderError("local provider: empty server command");
    let proc: Deno.ChildProcess;
    try {
      proc = new Deno.Command(cmd, {
        args,
        // The child watches this pipe (--exit-with-stdin): if this process dies
        // without killing it, the pipe closes and the server drains and exits.
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (e) {
      throw new ProviderError(
        `cannot start the server child ${JSON.stringify(cmd)}: ${(e as Error).message}`,
        { cause: e },
      );
    }
    const child: Child = {
      proc,
      pid: proc.pid,
      state: "starting",
      host: "127.0.0.1",
      port: 0,
      healthUrl: "",
      startedAt: null,
      expectedExit: false,
      exitedFlag: false,
      tail: [],
      settled: Promise.withResolvers<void>(),
      exited: proc.status,
      done: Promise.resolve(),
    };
    const clog = log.child({ pid: child.pid });
    clog.info("server child started, waiting for it to listen");
    const readyTimer = setTimeout(() => {
      if (child.state !== "starting") return;
      clog.error("server child did not become ready in time, killing it", { readyTimeoutMs });
      if (current === child) current = null;
      void terminate(child);
    }, readyTimeoutMs);

    const stdoutDone = forEachLine(proc.stdout, (line) => {
      const m = child.state === "starting" && !child.exitedFlag ? READY.exec(line) : null;
      if (!m) {
        clog.debug("server stdout", { line });
        return;
      }
      child.state = "running";
      child.host = m[1]!;
      child.port = Number(m[2]);
      child.healthUrl = `http://${m[3]}:${m[4]}/healthz`;
      child.startedAt = now();
      clearTimeout(readyTimer);
      clog.info("server child listening", { port: child.port, health: child.healthUrl });
      child.settled.resolve();
    });
    const stderrDone = forEachLine(proc.stderr, (line) => {
      child.tail.push(line);
      if (child.tail.length > TAIL_LINES) child.tail.shift();
      clog.debug("server", { line });
    });
    const exitDone = proc.status.then(async (status) => {
      clearTimeout(readyTimer);
      child.exitedFlag = true;
      await proc.stdin.close().catch(() => {});
      if (current === child) current = null;
      // The pipes close with the process: read them to the end so the last
      // lines (often the reason it died) are in the log.
      await Promise.all([stdoutDone, stderrDone]);
      live.delete(child);
      child.settled.resolve();
      const info: ChildExit = {
        pid: child.pid,
        code: status.code,
        signal: status.signal,
        expected: child.expectedExit,
      };
      if (child.expectedExit) {
        clog.info("server child exited", { code: status.code, signal: status.signal });
      } else if (status.success) {
        // e.g. Ctrl-C in a terminal reaches the child's process group first
        clog.info("server child exited on its own; reporting stopped", { code: status.code });
      } else {
        clog.warn("server child exited unexpectedly; reporting stopped", {
          code: status.code,
          signal: status.signal,
          lastLines: child.tail.slice(),
        });
      }
      opts.onExit?.(info);
    });
    child.done = exitDone;
    live.add(child);
    return child;
  }

  async function terminate(child: Child): Promise<void> {
    child.expectedExit = true;
    if (!trySignal(child, "SIGTERM")) {
      await child.done;
      return;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const graceOver = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), killGraceMs);
    });
    const first = await Promise.race([child.exited.then(() => "exited" as const), graceOver]);
    clearTimeout(timer);
    if (first === "timeout") {
      log.warn("server child ignored SIGTERM, sending SIGKILL", { pid: child.pid, killGraceMs });
      trySignal(child, "SIGKILL");
    }
    await child.done;
  }

  function trySignal(child: Child, sig: Deno.Signal): boolean {
    try {
      child.proc.kill(sig);
      return true;
    } catch {
      return false; // already exited
    }
  }

  return {
    describe(): Promise<ProviderState> {
      const c = current;
      return Promise.resolve({
        desiredCount: c ? 1 : 0,
        runningCount: c?.state === "running" ? 1 : 0,
        pendingCount: c?.state === "starting" ? 1 : 0,
        startedAt: c?.startedAt ?? null,
      });
    },

    scale(desiredCount) {
      if (desiredCount === 1) {
        if (closed) return Promise.reject(new ProviderError("local provider is closed"));
        // Already starting or running: setting desired=1 again is a no-op.
        if (!current) current = start();
        return Promise.resolve();
      }
      const c = current;
      current = null;
      return c ? terminate(c) : Promise.resolve();
    },

    locate() {
      const c = current;
      const status: ServerStatus = !c ? "stopped" : c.state === "running" ? "running" : "starting";
      return Promise.resolve({
        status,
        publicIp: status === "running" ? c!.host : null,
        port: status === "running" ? c!.port : 0,
      });
    },

    async activity(): Promise<ServerActivity> {
      const c = current;
      if (c?.state !== "running") {
        return { activeConnections: null, lastActivityEpochSeconds: null };
      }
      const ctrl = new AbortController();
      const timer = setTimeout(() => ctrl.abort(), healthTimeoutMs);
      try {
        const res = await fetch(c.healthUrl, { signal: ctrl.signal });
        const body = await res.json() as Record<string, unknown>;
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        const num = (v: unknown) => typeof v === "number" && Number.isFinite(v) ? v : null;
        return {
          activeConnections: num(body["activeStreams"]),
          lastActivityEpochSeconds: num(body["lastActivityEpochSeconds"]),
        };
      } catch (e) {
        throw new ProviderError(`cannot read ${c.healthUrl}: ${(e as Error).message}`, {
          cause: e,
        });
      } finally {
        clearTimeout(timer);
      }
    },

    async close() {
      closed = true;
      current = null;
      const stopping = [...live].map((child) => child.expectedExit ? child.done : terminate(child));
      await Promise.all(stopping);
    },

    whenSettled() {
      return current ? current.settled.promise : Promise.resolve();
    },

    pid() {
      return current?.pid ?? null;
    },
  };
}

/** Calls `fn` for each line of a byte stream until it ends; never rejects. */
async function forEachLine(
  stream: ReadableStream<Uint8Array>,
  fn: (line: string) => void,
): Promise<void> {
  let buf = "";
  try {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        fn(buf.slice(0, i).replace(/\r$/, ""));
        buf = buf.slice(i + 1);
      }
      // A child that never ends a line must not grow memory without bound.
      if (buf.length > 64 * 1024) {
        fn(buf);
        buf = "";
      }
    }
    if (buf) fn(buf);
  } catch {
    // the pipe broke: the exit handler reports the child
  }
}
