/** A small HTTP server for /healthz, /metrics (and the agent's /proxy.pac). */
import type { Logger } from "../log/logger.ts";
import { parseHostPort } from "../config/values.ts";

export type Route = (req: Request) => Response | Promise<Response>;

export interface HealthServer {
  /** `host:port` actually bound. */
  address: string;
  close(): Promise<void>;
}

export async function startHealthServer(
  listen: string,
  routes: Record<string, Route>,
  logger: Logger,
): Promise<HealthServer> {
  const { host, port } = parseHostPort(listen);
  let resolveAddr!: (a: string) => void;
  const bound = new Promise<string>((r) => (resolveAddr = r));
  const server = Deno.serve({
    hostname: host,
    port,
    onListen: (a) =>
      resolveAddr(`${a.hostname.includes(":") ? `[${a.hostname}]` : a.hostname}:${a.port}`),
    onError: (e) => {
      logger.warn("health endpoint error", { error: (e as Error).message });
      return new Response("internal error\n", { status: 500 });
    },
  }, (req) => {
    const path = new URL(req.url).pathname;
    const route = routes[path];
    if (!route) return new Response("not found\n", { status: 404 });
    if (req.method !== "GET" && req.method !== "HEAD") {
      return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
    }
    return route(req);
  });
  const address = await bound;
  return {
    address,
    close: async () => {
      await server.shutdown();
    },
  };
}

export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body) + "\n", {
    status,
    headers: { "content-type": "application/json" },
  });
}

export function text(body: string, contentType = "text/plain; version=0.0.4"): Response {
  return new Response(body, { headers: { "content-type": contentType } });
}

/** One Prometheus metric: name, type (`gauge`/`counter`), help, value. */
export type MetricRow = [string, string, string, number];

/** Prometheus text exposition of `rows`. */
export function prometheusText(rows: readonly MetricRow[]): string {
  return rows.map(([n, t, h, v]) => `# HELP ${n} ${h}\n# TYPE ${n} ${t}\n${n} ${v}`).join("\n") +
    "\n";
}

/** Process memory as Prometheus rows. */
export function memoryRows(prefix: string): MetricRow[] {
  const m = Deno.memoryUsage();
  return [
    [`${prefix}_memory_rss_bytes`, "gauge", "resident set size", m.rss],
    [`${prefix}_memory_heap_used_bytes`, "gauge", "V8 heap used", m.heapUsed],
    [`${prefix}_memory_heap_total_bytes`, "gauge", "V8 heap total", m.heapTotal],
    [
      `${prefix}_memory_external_bytes`,
      "gauge",
      "memory outside the V8 heap (buffers)",
      m.external,
    ],
  ];
}
