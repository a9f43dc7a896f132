/**
 * Generates `agent.example.yaml`, `server.example.yaml` and the key tables in
 * `docs/configuration.md` from `AGENT_FIELDS` and `SERVER_FIELDS`, so the
 * examples and the docs never drift from the code.
 *
 * ```sh
 * deno run -A scripts/gen_examples.ts           # rewrite all three
 * deno run -A scripts/gen_examples.ts --docs    # only the docs tables
 * deno run -A scripts/gen_examples.ts --check   # exit 1 if any is stale
 * ```
 */
import YAML from "yaml";
import { AGENT_FIELDS } from "../src/config/agent_config.ts";
import { SERVER_FIELDS } from "../src/config/server_config.ts";
import { DEPLOY_FIELDS } from "../src/config/deploy_config.ts";
import { envName, type Field } from "../src/config/schema.ts";
import { formatDuration, formatSize } from "../src/config/values.ts";

/** The repository root (this file lives in `scripts/`). */
export const ROOT = new URL("../", import.meta.url);

/** The default written as a user would write it in YAML (before quoting). */
export function defaultValue(f: Field): unknown {
  switch (f.kind) {
    case "duration":
      return formatDuration(f.default as number);
    case "size":
      return formatSize(f.default as number);
    default:
      return f.default;
  }
}

function bound(f: Field, n: number): string {
  return f.kind === "duration" ? formatDuration(n) : f.kind === "size" ? formatSize(n) : String(n);
}

/** Type with its constraints: `int 1..1000`, `enum: text, json`, `duration 100ms..5m`. */
export function typeText(f: Field): string {
  if (f.kind === "enum") return `enum: ${f.values!.join(", ")}`;
  let t: string = f.kind;
  if (f.min !== undefined && f.max !== undefined) t += ` ${bound(f, f.min)}..${bound(f, f.max)}`;
  else if (f.min !== undefined) t += ` >= ${bound(f, f.min)}`;
  else if (f.max !== undefined) t += ` <= ${bound(f, f.max)}`;
  return t;
}

/** The default as shown in comments and docs. */
export function defaultText(f: Field): string {
  const v = defaultValue(f);
  if (v === "") return "empty";
  if (Array.isArray(v)) return v.length === 0 ? "empty list" : v.join(", ");
  return String(v);
}

function yamlScalar(v: unknown): string {
  return YAML.stringify(v, { flowCollectionPadding: false }).trim();
}

interface Node {
  name: string;
  field?: Field;
  children: Node[];
}

/** Groups dotted keys into a tree, keeping the order fields are declared in. */
function tree(fields: readonly Field[]): Node[] {
  const root: Node = { name: "", children: [] };
  for (const f of fields) {
    let node = root;
    for (const part of f.key.split(".")) {
      let next = node.children.find((c) => c.name === part);
      if (!next) {
        next = { name: part, children: [] };
        node.children.push(next);
      }
      node = next;
    }
    node.field = f;
  }
  return root.children;
}

function fieldComment(f: Field, indent: string): string[] {
  const facts = [`${typeText(f)}`, `default ${defaultText(f)}`, `env ${envName(f.key)}`];
  if (f.flag) facts.push(`flag --${f.flag}`);
  if (f.secret) facts.push("secret: never logged");
  return [`${indent}# ${f.help}`, `${indent}# (${facts.join("; ")})`];
}

function renderNodes(nodes: Node[], depth: number): string[] {
  const indent = "  ".repeat(depth);
  const out: string[] = [];
  nodes.forEach((n, i) => {
    if (depth === 0 && i > 0) out.push("");
    if (n.field) {
      out.push(...fieldComment(n.field, indent));
      out.push(`${indent}${n.name}: ${yamlScalar(defaultValue(n.field))}`);
    } else {
      out.push(`${indent}${n.name}:`);
      out.push(...renderNodes(n.children, depth + 1));
    }
  });
  return out;
}

/** One example file: a header, then every field at its default with its help as a comment. */
export function exampleYaml(role: "agent" | "server" | "deploy"): string {
  // deploy (issue 8): DEPLOY_FIELDS, used by `fluidity deploy up|down|status`.
  const fields = role === "agent"
    ? AGENT_FIELDS
    : role === "server"
    ? SERVER_FIELDS
    : DEPLOY_FIELDS;
  const source = `${role}_config.ts`;
  const command = role === "deploy" ? "deploy up" : role;
  const header = [
    `# Fluidity ${role} configuration: every setting, shown at its default.`,
    `# Use it with: fluidity ${command} --config ${role}.yaml`,
    "#",
    `# Copy this file to ${role}.yaml and keep only the settings you change.`,
    "# Precedence: defaults < this file < FLUIDITY_* environment variables < flags.",
    '# Durations: "250ms", "30s", "5m", "1h", "1m30s" (a bare number is seconds).',
    '# Sizes: "65536", "64KiB", "4MiB". TLS settings take a file path or the PEM text.',
    "# Details: docs/configuration.md",
    "#",
    `# Generated from ${role.toUpperCase()}_FIELDS in src/config/${source} by`,
    "# `deno run -A scripts/gen_examples.ts`; edit the fields, not this file.",
    "",
  ];
  return [...header, ...renderNodes(tree(fields), 0), ""].join("\n");
}

function cell(s: string): string {
  return s.replaceAll("|", "\\|");
}

/** A Markdown table laid out the way `deno fmt` lays it out (so it stays fmt-clean). */
export function markdownTable(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, 3, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  return [line(head), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

/** The table of every key of one role. */
export function keyTable(fields: readonly Field[]): string {
  const rows = fields.map((f) => [
    `\`${f.key}\``,
    cell(typeText(f)),
    cell(defaultText(f)),
    `\`${envName(f.key)}\``,
    f.flag ? `\`--${f.flag}\`` : "",
    cell(f.help + (f.secret ? " (secret: never logged)" : "")),
  ]);
  return markdownTable(["key", "type", "default", "environment", "flag", "meaning"], rows);
}

const MARK = (name: string, end: boolean) =>
  `<!-- generated:${name}:${end ? "end" : "begin"} (scripts/gen_examples.ts) -->`;

/** Replaces the generated sections of `docs/configuration.md`; throws if a marker is missing. */
export function renderDocs(current: string): string {
  let out = current;
  for (
    const [name, fields] of [["agent-keys", AGENT_FIELDS], ["server-keys", SERVER_FIELDS]] as const
  ) {
    const begin = MARK(name, false);
    const end = MARK(name, true);
    const a = out.indexOf(begin);
    const b = out.indexOf(end);
    if (a < 0 || b < a) throw new Error(`docs/configuration.md: markers for ${name} are missing`);
    out = `${out.slice(0, a + begin.length)}\n\n${keyTable(fields)}\n\n${out.slice(b)}`;
  }
  return out;
}

/** Every generated file: path relative to the root, and its content given the current text. */
export const OUTPUTS: ReadonlyArray<{
  path: string;
  kind: "examples" | "docs";
  render(current: string): string;
}> = [
  { path: "agent.example.yaml", kind: "examples", render: () => exampleYaml("agent") },
  { path: "server.example.yaml", kind: "examples", render: () => exampleYaml("server") },
  { path: "deploy.example.yaml", kind: "examples", render: () => exampleYaml("deploy") },
  { path: "docs/configuration.md", kind: "docs", render: renderDocs },
];

async function readOrEmpty(url: URL): Promise<string> {
  try {
    return await Deno.readTextFile(url);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return "";
    throw e;
  }
}

async function main(args: string[]): Promise<number> {
  const check = args.includes("--check");
  const only = args.includes("--docs") ? "docs" : args.includes("--examples") ? "examples" : null;
  const unknown = args.filter((a) => !["--check", "--docs", "--examples"].includes(a));
  if (unknown.length > 0) {
    console.error(
      `gen_examples: unknown argument ${unknown[0]}; use --check, --docs or --examples`,
    );
    return 2;
  }
  let stale = 0;
  for (const o of OUTPUTS) {
    if (only && o.kind !== only) continue;
    const url = new URL(o.path, ROOT);
    const current = await readOrEmpty(url);
    const next = o.render(current);
    if (next === current) continue;
    if (check) {
      console.error(`${o.path} is stale: run deno run -A scripts/gen_examples.ts`);
      stale++;
    } else {
      await Deno.writeTextFile(url, next);
      console.log(`wrote ${o.path}`);
    }
  }
  return stale > 0 ? 1 : 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    console.error(`gen_examples: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
