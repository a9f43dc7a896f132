/**
 * Real `fluidity` processes for end-to-end tests: spawn, wait for the ready
 * line on stdout (never a fixed sleep), read RSS, stop with a signal.
 */

import { fluidityCommand } from "../../src/lifecycle/self_command.ts";

export const MAIN = new URL("../../main.ts", import.meta.url).pathname;

export interface Proc {
  readonly pid: number;
  readonly stdout: string[];
  readonly stderr: string[];
  readonly status: Promise<Deno.CommandStatus>;
  /** Resolves with the match of the first stdout or stderr line matching `re`. */
  waitFor(re: RegExp, timeoutMs?: number, stream?: "stdout" | "stderr"): Promise<RegExpMatchArray>;
  /** Sends `signal` and waits for exit; SIGKILL after `graceMs`. */
  stop(signal?: Deno.Signal, graceMs?: number): Promise<Deno.CommandStatus>;
  /** Resident set size in kB from /proc. */
  rssKb(): number;
}

const PROXY_VARS = /^(https?_proxy|all_proxy|no_proxy)$/i;

/** Environment without the caller's FLUIDITY_* settings and proxy variables (tests set their own). */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(Deno.env.toObject())) {
    if (!k.startsWith("FLUIDITY_") && !PROXY_VARS.test(k)) env[k] = v;
  }
  return { ...env, NO_COLOR: "1", ...extra };
}

export function spawnFluidity(
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string } = {},
): Proc {
  // Exactly how the product starts itself (runtime flags included).
  const [cmd, ...argv] = fluidityCommand(args);
  const child = new Deno.Command(cmd!, {
    args: argv,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
    env: cleanEnv(opts.env),
    clearEnv: true,
    cwd: opts.cwd,
  }).spawn();
  const stdout: string[] = [];
  const stderr: string[] = [];
  const watchers: Array<{ re: RegExp; stream?: string; resolve: (m: RegExpMatchArray) => void }> =
    [];
  const pump = async (rs: ReadableStream<Uint8Array>, sink: string[], name: string) => {
    let buf = "";
    for await (const chunk of rs.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        sink.push(line);
        for (const w of [...watchers]) {
          if (w.stream && w.stream !== name) continue;
          const m = line.match(w.re);
          if (m) {
            watchers.splice(watchers.indexOf(w), 1);
            w.resolve(m);
          }
        }
      }
    }
    if (buf) sink.push(buf);
  };
  const pumps = Promise.all([
    pump(child.stdout, stdout, "stdout"),
    pump(child.stderr, stderr, "stderr"),
  ]);
  const status = pumps.then(() => child.status);
  let exited = false;
  status.then(() => (exited = true));

  return {
    pid: child.pid,
    stdout,
    stderr,
    status,
    waitFor(re, timeoutMs = 30_000, stream) {
      for (
        const line of stream === "stderr"
          ? stderr
          : stream === "stdout"
          ? stdout
          : [...stdout, ...stderr]
      ) {
        const m = line.match(re);
        if (m) return Promise.resolve(m);
      }
      return new Promise((resolve, reject) => {
        const w = {
          re,
          stream,
          resolve: (m: RegExpMatchArray) => {
            clearTimeout(t);
            resolve(m);
          },
        };
        const t = setTimeout(() => {
          watchers.splice(watchers.indexOf(w), 1);
          reject(
            new Error(
              `timed out waiting for ${re} from fluidity ${args[0]}\nstdout:\n${
                stdout.join("\n")
              }\nstderr:\n${stderr.slice(-30).join("\n")}`,
            ),
          );
        }, timeoutMs);
        status.then(() => {
          if (!watchers.includes(w)) return;
          watchers.splice(watchers.indexOf(w), 1);
          clearTimeout(t);
          reject(
            new Error(
              `fluidity ${args[0]} exited before printing ${re}\nstderr:\n${
                stderr.slice(-30).join("\n")
              }`,
            ),
          );
        });
        watchers.push(w);
      });
    },
    async stop(signal = "SIGTERM", graceMs = 15_000) {
      if (!exited) {
        try {
          child.kill(signal);
        } catch { /* already gone */ }
        const t = setTimeout(() => {
          try {
            child.kill("SIGKILL");
          } catch { /* gone */ }
        }, graceMs);
        const s = await status;
        clearTimeout(t);
        return s;
      }
      return await status;
    },
    rssKb() {
      try {
        const s = Deno.readTextFileSync(`/proc/${child.pid}/status`);
        return Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0);
      } catch {
        return 0;
      }
    },
  };
}
