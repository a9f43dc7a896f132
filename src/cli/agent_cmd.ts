/** `fluidity agent`: flags → config → start → wait for a signal or a fatal error → kill → exit. */
import { loadPem } from "../certs/pem.ts";
import { AGENT_FIELDS, type AgentConfig, agentConfigOf } from "../config/agent_config.ts";
import { parseHostPort } from "../config/values.ts";
import { ConfigError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import { startAgent } from "../agent/agent.ts";
import { loadCredentials } from "../agent/proxy_auth.ts";
import { upstreamSocketFactory } from "../agent/upstream_proxy.ts";
import { checkPacConfig } from "../agent/pac.ts";
import type { ServerLocator } from "../agent/link_manager.ts";
import {
  createLifecycleClient,
  type LifecycleClient,
  LifecycleError,
} from "../lifecycle/client.ts";
import { discoverServer, DiscoveryTimeoutError } from "../lifecycle/discovery.ts";
import { commandLogger, loadCommandConfig } from "./command_config.ts";
import { type Command, type CommandContext, untilAborted } from "./context.ts";
import { type CommandSpec, parseOrHelp } from "./flags.ts";

export const AGENT_SPEC: CommandSpec = {
  name: "agent",
  summary: "run the workstation agent (HTTP proxy over the mTLS tunnel)",
  usage:
    "agent [--config agent.yaml] [--listen 127.0.0.1:8080] [--server HOST:PORT | --lifecycle-url URL --api-key KEY]",
  config: true,
  fields: AGENT_FIELDS,
  notes:
    "With --server the agent connects to that server directly. Otherwise it wakes one through\n" +
    "the lifecycle API, finds its address, and calls kill when it exits.\n" +
    "Then: export http_proxy=http://127.0.0.1:8080 https_proxy=http://127.0.0.1:8080",
};

/** Checks the settings that depend on each other. */
export function validateAgentConfig(cfg: AgentConfig): void {
  checkPacConfig(cfg.pac);
  if (!cfg.server && !cfg.lifecycle.url) {
    throw new ConfigError(
      "agent: no server to connect to: set server (--server HOST:PORT) for a static server, " +
        "or lifecycle.url (--lifecycle-url URL) to wake one on demand",
    );
  }
  if (!cfg.server && !cfg.lifecycle.apiKey) {
    throw new ConfigError(
      "agent: lifecycle.api_key (--api-key, FLUIDITY_LIFECYCLE_API_KEY) is required with lifecycle.url",
    );
  }
}

export interface AgentRunOptions {
  /** Called once the proxy listens, instead of printing the ready line (`fluidity local`). */
  onReady?: (info: { proxy: string; health?: string }) => void;
  logger?: Logger;
}

/** Runs an agent until the signal aborts or the tunnel fails fatally; returns the exit code. */
export async function runAgent(
  cfg: AgentConfig,
  ctx: CommandContext,
  opts: AgentRunOptions = {},
): Promise<number> {
  validateAgentConfig(cfg);
  const log = opts.logger ?? commandLogger(cfg.log, ctx);
  const credentials = await loadCredentials(cfg.proxyAuth);
  // HTTPS_PROXY / NO_PROXY come from ctx.env, like everything else from the environment.
  const socketFactory = upstreamSocketFactory(cfg.upstreamProxy, ctx.env, {
    timeoutMs: cfg.connectTimeoutMs,
    logger: log,
  });
  const pems = {
    cert: await loadPem(cfg.tls.cert, "tls.cert (--cert, FLUIDITY_TLS_CERT)", "certificate"),
    key: await loadPem(cfg.tls.key, "tls.key (--key, FLUIDITY_TLS_KEY)", "private key"),
    ca: await loadPem(cfg.tls.ca, "tls.ca (--ca, FLUIDITY_TLS_CA)", "certificate"),
  };
  let client: LifecycleClient | undefined;
  let locator: ServerLocator;
  if (cfg.server) {
    const addr = parseHostPort(cfg.server);
    locator = { locate: () => Promise.resolve(addr) };
  } else {
    const c = createLifecycleClient({
      url: cfg.lifecycle.url,
      apiKey: cfg.lifecycle.apiKey,
      logger: log,
    });
    client = c;
    locator = {
      locate: (_fresh, signal) =>
        discoverServer(c, { wakeTimeoutMs: cfg.lifecycle.wakeTimeoutMs, signal, logger: log }),
    };
  }
  const agent = await startAgent(cfg, {
    logger: log,
    pems,
    locator,
    credentials,
    socketFactory,
    isFatal: (e) =>
      e instanceof DiscoveryTimeoutError || (e instanceof LifecycleError && !e.transient),
  });
  if (opts.onReady) opts.onReady({ proxy: agent.proxyAddress, health: agent.healthAddress });
  else {
    const health = agent.healthAddress ? ` (health http://${agent.healthAddress})` : "";
    if (agent.socksAddress) ctx.out(`fluidity agent: SOCKS5 listening on ${agent.socksAddress}`);
    ctx.out(`fluidity agent: proxy listening on ${agent.proxyAddress}${health}`);
  }
  const fatal = await Promise.race([untilAborted(ctx.signal).then(() => undefined), agent.fatal]);
  log.info(fatal ? "stopping after a fatal error" : "shutting down");
  await agent.shutdown(fatal ? 0 : cfg.drainTimeoutMs);
  if (
    client && cfg.lifecycle.killOnExit && !(fatal instanceof LifecycleError && !fatal.transient)
  ) {
    try {
      const k = await client.kill(AbortSignal.timeout(15_000));
      log.info("server killed", { status: k.status });
    } catch (e) {
      log.warn("kill failed: the server will be stopped by the idle sleep schedule", {
        error: (e as Error).message,
      });
    }
  }
  if (fatal instanceof LifecycleError && (fatal.status === 401 || fatal.status === 403)) {
    throw new ConfigError(`agent: ${fatal.message}`);
  }
  if (fatal) throw fatal;
  return 0;
}

export const agentCommand: Command = {
  name: AGENT_SPEC.name,
  summary: AGENT_SPEC.summary,
  async run(args, ctx) {
    const parsed = parseOrHelp(AGENT_SPEC, args, ctx.out);
    if (!parsed) return 0;
    const cfg = agentConfigOf(await loadCommandConfig(AGENT_FIELDS, parsed, ctx));
    return await runAgent(cfg, ctx);
  },
};
