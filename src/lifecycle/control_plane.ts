/**
 * The local control plane: the lifecycle HTTP API on `Deno.serve`, plus the
 * `sleep` schedule that AWS runs with EventBridge. Used by
 * `fluidity control-plane` and, in-process, by `fluidity local`.
 */
import { formatHostPort, parseHostPort } from "../config/values.ts";
import type { Logger } from "../log/logger.ts";
import { sleep } from "./handlers.ts";
import { handleLifecycleRequest } from "./http_api.ts";
import type { Provider } from "./types.ts";

export interface ControlPlaneOptions {
  /** `host:port`; port 0 picks a free one. */
  listen: string;
  /** Required `x-api-key` value. */
  apiKey: string;
  provider: Provider;
  logger: Logger;
  /** Idle minutes before the scheduled sleep scales down. Default 15. */
  idleMinutes?: number;
  /** Grace minutes after a start. Default 10. */
  graceMinutes?: number;
  /** How often `sleep` runs; 0 disables it. Default 60 000 ms. */
  sleepIntervalMs?: number;
}

export interface ControlPlane {
  /** Base URL for the agent's `lifecycle.url`, e.g. `http://127.0.0.1:8787`. */
  url: string;
  /** Stops the HTTP server and the sleep schedule. Does not stop the provider's server. */
  close(): Promise<void>;
}

/**
 * Starts serving `/wake`, `/query`, `/kill`. The caller owns the provider and
 * closes it (for the local provider, that kills the server child).
 */
export function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const { host, port } = parseHostPort(opts.listen);
  const log = opts.logger.child({ component: "control-plane" });
  const deps = {
    provider: opts.provider,
    apiKey: opts.apiKey,
    idleMinutes: opts.idleMinutes,
    graceMinutes: opts.graceMinutes,
    logger: log,
  };
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname: host,
      port,
      onListen: () => {},
      onError: (e) => {
        log.error("control plane request failed", { error: e });
        return Response.json({ message: "internal error" }, { status: 500 });
      },
    }, async (req) => {
      const url = new URL(req.url);
      let body: string | null = null;
      try {
        body = await req.text();
      } catch {
        // the client went away mid-body; the handlers ignore bodies anyway
      }
      const res = await handleLifecycleRequest({
        method: req.method,
        path: url.pathname + url.search,
        headers: Object.fromEntries(req.headers),
        body,
      }, deps);
      return new Response(res.body, { status: res.statusCode, headers: res.headers });
    });
  } catch (e) {
    return Promise.reject(
      new Error(`cannot listen on ${opts.listen}: ${(e as Error).message}`, { cause: e }),
    );
  }

  const intervalMs = opts.sleepIntervalMs ?? 60_000;
  let running: Promise<void> | null = null;
  const timer = intervalMs > 0
    ? setInterval(() => {
      if (running) return;
      running = sleep(deps)
        .then(() => {}, (e) => log.warn("scheduled sleep failed", { error: e }))
        .finally(() => running = null);
    }, intervalMs)
    : undefined;

  const url = `http://${formatHostPort(host, server.addr.port)}`;
  log.info("control plane listening", { url });
  let closing: Promise<void> | undefined;
  return Promise.resolve({
    url,
    close() {
      closing ??= (async () => {
        clearInterval(timer);
        await server.shutdown();
        await running;
      })();
      return closing;
    },
  });
}
