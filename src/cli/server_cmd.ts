/** `fluidity server`: flags → config → start → wait for a signal → drain → exit. */
import { loadPem } from "../certs/pem.ts";
import { SERVER_FIELDS, serverConfigOf } from "../config/server_config.ts";
import { startServer } from "../server/server.ts";
import { lazySpecifier } from "../lazy_modules.ts";
import { commandLogger, loadCommandConfig } from "./command_config.ts";
import { type Command, untilAborted } from "./context.ts";
import { type CommandSpec, parseOrHelp } from "./flags.ts";

export const SERVER_SPEC: CommandSpec = {
  name: "server",
  summary: "run the tunnel server (mTLS listener that dials targets)",
  usage: "server [--config server.yaml] [--listen 0.0.0.0:8443] [options]",
  config: true,
  fields: SERVER_FIELDS,
  flags: [
    {
      name: "exit-with-stdin",
      type: "boolean",
      help: "shut down (draining) when standard input closes: for a supervising parent process",
    },
  ],
  notes:
    "Prints 'fluidity server: listening on ADDR' when ready. SIGINT/SIGTERM drain in-flight\n" +
    "streams (drain_timeout), a second signal exits at once.",
};

/** Resolves when standard input reaches end of file (the parent went away). */
async function stdinClosed(): Promise<void> {
  const buf = new Uint8Array(1024);
  try {
    while ((await Deno.stdin.read(buf)) !== null) { /* ignore input */ }
  } catch { /* a read error means the same */ }
}

export const serverCommand: Command = {
  name: SERVER_SPEC.name,
  summary: SERVER_SPEC.summary,
  async run(args, ctx) {
    const parsed = parseOrHelp(SERVER_SPEC, args, ctx.out);
    if (!parsed) return 0;
    const cfg = serverConfigOf(await loadCommandConfig(SERVER_FIELDS, parsed, ctx));
    const log = commandLogger(cfg.log, ctx);
    const pems = {
      cert: await loadPem(cfg.tls.cert, "tls.cert (--cert, FLUIDITY_TLS_CERT)", "certificate"),
      key: await loadPem(cfg.tls.key, "tls.key (--key, FLUIDITY_TLS_KEY)", "private key"),
      ca: await loadPem(cfg.tls.ca, "tls.ca (--ca, FLUIDITY_TLS_CA)", "certificate"),
    };
    const server = await startServer(cfg, { logger: log, pems });
    // Loaded only when enabled: it pulls in the AWS SDK.
    const emitter = cfg.metrics.cloudwatch
      ? (await import(
        lazySpecifier("../server/cloudwatch_emitter.ts", import.meta.url)
      ) as typeof import("../server/cloudwatch_emitter.ts"))
        .startCloudWatchEmitter({
          read: () => ({
            activeConnections: server.metrics.activeStreams,
            lastActivityEpochSeconds: server.metrics.lastActivityEpochSeconds,
          }),
          intervalMs: cfg.metrics.intervalMs,
          region: cfg.metrics.region || undefined,
          logger: log,
        })
      : undefined;
    const health = server.healthAddress ? ` (health http://${server.healthAddress})` : "";
    ctx.out(`fluidity server: listening on ${server.address}${health}`);
    log.info("server started", {
      listen: server.address,
      health: server.healthAddress,
      allowPrivateTargets: cfg.allowPrivateTargets,
    });
    const stop = new AbortController();
    ctx.signal.addEventListener("abort", () => stop.abort(), { once: true });
    if (parsed.values["exit-with-stdin"] === true) void stdinClosed().then(() => stop.abort());
    await untilAborted(stop.signal);
    log.info("shutting down", { drainSeconds: cfg.drainTimeoutMs / 1000 });
    emitter?.close();
    await server.shutdown();
    log.info("server stopped");
    return 0;
  },
};
