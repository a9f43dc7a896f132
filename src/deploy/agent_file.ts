/**
 * Writes the agent's config from what the deployment produced: lifecycle URL
 * and API key, certificate paths, server name. An existing file keeps its
 * other settings and comments. The result is checked with the agent's own
 * loader before it replaces anything, and written atomically with mode 0600
 * (it holds the API key).
 */
import YAML from "yaml";
import { resolve } from "node:path";
import { writeFilesAtomic } from "../certs/files.ts";
import { AGENT_FIELDS, agentConfigOf } from "../config/agent_config.ts";
import { parseYamlConfig } from "../config/yaml_parse.ts";
import { resolveConfig } from "../config/schema.ts";
import { validateAgentConfig } from "../cli/agent_cmd.ts";
import { ConfigError } from "../errors.ts";

export interface AgentFileValues {
  lifecycleUrl: string;
  apiKey: string;
  cert: string;
  key: string;
  ca: string;
  serverName: string;
}

/** `created`, `updated` or `unchanged` (same bytes: not rewritten). */
export type AgentFileAction = "created" | "updated" | "unchanged";

function headerLines(stack: string, region: string, path: string): string[] {
  return [
    `Written by 'fluidity deploy up' from stack ${stack} (${region}).`,
    "It holds the lifecycle API key: keep it private (mode 0600), never commit it.",
    `Run the agent with: fluidity agent --config ${path}`,
    "deploy up rewrites lifecycle.*, tls.* and server_name; other settings you add stay.",
  ];
}

/** The YAML text to write, given the current file text (or null). */
export function renderAgentConfig(
  current: string | null,
  v: AgentFileValues,
  meta: { stack: string; region: string; path: string },
): string {
  let doc: YAML.Document;
  if (current === null || current.trim() === "") {
    doc = new YAML.Document({});
    doc.commentBefore = headerLines(meta.stack, meta.region, meta.path).map((l) => ` ${l}`)
      .join("\n");
  } else {
    // Same checks as the agent's loader (syntax, duplicate keys), with its messages.
    parseYamlConfig(meta.path, current);
    doc = YAML.parseDocument(current, { uniqueKeys: true });
    if (doc.contents !== null && !YAML.isMap(doc.contents)) {
      throw new ConfigError(
        `${meta.path}: expected a mapping of settings; move it away to have a new one written`,
      );
    }
    if (doc.contents === null) doc.contents = doc.createNode({}) as unknown as typeof doc.contents;
  }
  // A static server would bypass the lifecycle API this deployment provides.
  if (doc.hasIn(["server"])) doc.deleteIn(["server"]);
  doc.setIn(["server_name"], v.serverName);
  doc.setIn(["tls", "cert"], v.cert);
  doc.setIn(["tls", "key"], v.key);
  doc.setIn(["tls", "ca"], v.ca);
  doc.setIn(["lifecycle", "url"], v.lifecycleUrl);
  doc.setIn(["lifecycle", "api_key"], v.apiKey);
  return doc.toString({ lineWidth: 0 });
}

/**
 * Writes `path` (absolute certificate paths, so the agent can run from any
 * directory). Throws {@linkcode ConfigError} when the existing file cannot be
 * merged or the result would not load as an agent config.
 */
export async function writeAgentConfig(
  path: string,
  v: AgentFileValues,
  meta: { stack: string; region: string },
): Promise<AgentFileAction> {
  let current: string | null = null;
  try {
    current = await Deno.readTextFile(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new ConfigError(`cannot read ${path}: ${(e as Error).message}`);
    }
  }
  const abs = { ...v, cert: resolve(v.cert), key: resolve(v.key), ca: resolve(v.ca) };
  const text = renderAgentConfig(current, abs, { ...meta, path });
  // The agent must be able to load exactly this.
  const values = resolveConfig(AGENT_FIELDS, {
    file: { path, data: parseYamlConfig(path, text) },
  });
  validateAgentConfig(agentConfigOf(values));
  if (text === current) {
    await Deno.chmod(path, 0o600).catch(() => {});
    return "unchanged";
  }
  await writeFilesAtomic([{ path, text, secret: true }], { force: true });
  return current === null ? "created" : "updated";
}
