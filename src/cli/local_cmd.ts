/**
 * `fluidity local`, the embedded default: certificates under ./certs (made
 * if missing), the local control plane with a random API key, and the agent,
 * which wakes a `fluidity server` child on loopback through it. Ctrl-C tears
 * everything down, the server child included.
 */
import { ensureLocalPki } from "../certs/files.ts";
import { AGENT_FIELDS, agentConfigOf } from "../config/agent_config.ts";
import { resolveConfig } from "../config/schema.ts";
import { startControlPlane } from "../lifecycle/control_plane.ts";
import { createLocalProvider } from "../lifecycle/local_provider.ts";
import { fluidityCommand } from "../lifecycle/self_command.ts";
import { commandLogger } from "./command_config.ts";
import { runAgent } from "./agent_cmd.ts";
import type { Command } from "./context.ts";
import { type CommandSpec, parseOrHelp } from "./flags.ts";
import { join } from "node:path";

export const LOCAL_SPEC: CommandSpec = {
  name: "local",
  summary: "run everything on this machine: certs, local control plane, agent",
  usage: "local [--listen 127.0.0.1:8080] [--certs-dir certs]",
  flags: [
    {
      name: "listen",
      type: "string",
      arg: "ADDR",
      help: "HTTP proxy listen address",
      default: "127.0.0.1:8080",
    },
    {
      name: "socks-listen",
      type: "string",
      arg: "ADDR",
      help: "also serve SOCKS5 here (empty = off)",
    },
    {
      name: "health-listen",
      type: "string",
      arg: "ADDR",
      help: "agent /healthz, /metrics, /proxy.pac (empty = off)",
    },
    {
      name: "certs-dir",
      type: "string",
      arg: "DIR",
      help: "where the CA and certificates live",
      default: "certs",
    },
    {
      name: "log-level",
      type: "string",
      arg: "LEVEL",
      help: "debug, info, warn or error",
      default: "info",
    },
    { name: "log-format", type: "string", arg: "FORMAT", help: "text or json", default: "text" },
  ],
  notes:
    "Everything stays on this machine: the server child listens on 127.0.0.1 on a fresh port\n" +
    "each time it is woken and may reach private and loopback targets.",
};

function randomKey(): string {
  return [...crypto.getRandomValues(new Uint8Array(24))].map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

export const localCommand: Command = {
  name: LOCAL_SPEC.name,
  summary: LOCAL_SPEC.summary,
  async run(args, ctx) {
    const parsed = parseOrHelp(LOCAL_SPEC, args, ctx.out);
    if (!parsed) return 0;
    const v = parsed.values;
    const dir = v["certs-dir"] as string;
    const apiKey = randomKey();
    const values = resolveConfig(AGENT_FIELDS, {
      env: ctx.env,
      flags: {
        listen: v["listen"],
        "socks-listen": v["socks-listen"],
        "health-listen": v["health-listen"],
        "log-level": v["log-level"],
        "log-format": v["log-format"],
        "lifecycle-url": "http://127.0.0.1:1", // replaced below once the control plane listens
        "api-key": apiKey,
        cert: join(dir, "agent.crt"),
        key: join(dir, "agent.key"),
        ca: join(dir, "ca.crt"),
        server: "",
        // The server is a child on this machine: never through a proxy from the environment.
        "upstream-proxy": "none",
      },
    });
    const cfg = agentConfigOf(values);
    const log = commandLogger(cfg.log, ctx);
    const pki = await ensureLocalPki(dir, (line) => log.info(line));
    if (pki.created) ctx.out(`fluidity local: created a private CA and certificates in ${dir}/`);
    const provider = createLocalProvider({ command: fluidityCommand, certsDir: dir, logger: log });
    const plane = await startControlPlane({ listen: "127.0.0.1:0", apiKey, provider, logger: log });
    cfg.lifecycle.url = plane.url;
    try {
      return await runAgent(cfg, ctx, {
        logger: log,
        onReady: ({ proxy, health }) => {
          ctx.out(
            [
              `fluidity local: proxy listening on ${proxy} (control plane ${plane.url}` +
              (health ? `, health http://${health})` : ")"),
              `  try:  curl -x http://${proxy} https://example.com/`,
              `  or:   export http_proxy=http://${proxy} https_proxy=http://${proxy}`,
              "  Ctrl-C stops the agent, the control plane and the server.",
            ].join("\n"),
          );
        },
      });
    } finally {
      await plane.close();
      await provider.close();
    }
  },
};
