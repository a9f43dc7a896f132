/**
 * `fluidity certs init | issue server | issue agent | show FILE`: the private
 * CA and the certificates it issues, without openssl.
 */
import { ConfigError, UsageError } from "../errors.ts";
import { KEY_TYPES, type KeyType } from "../certs/ca.ts";
import { writeIssued, writeNewCa } from "../certs/files.ts";
import { isAgentName, isDnsName, isIpAddress } from "../certs/names.ts";
import { loadPem } from "../certs/pem.ts";
import { describePem, formatCertInfo } from "../certs/show.ts";
import type { Command, CommandContext } from "./context.ts";
import { type CommandSpec, type FlagSpec, parseOrHelp } from "./flags.ts";

const SUMMARY = "create the private CA and issue server/agent certificates";
const MAX_DAYS = 36_500;

const DIR: FlagSpec = {
  name: "dir",
  type: "string",
  arg: "DIR",
  help: "directory holding ca.crt and ca.key",
  default: "certs",
};
const FORCE: FlagSpec = {
  name: "force",
  type: "boolean",
  help: "replace existing files",
};
const KEY_TYPE: FlagSpec = {
  name: "key-type",
  type: "string",
  arg: "TYPE",
  help: `key algorithm: ${KEY_TYPES.join(" or ")}`,
  default: "ecdsa-p256",
};

function daysFlag(def: number): FlagSpec {
  return {
    name: "days",
    type: "string",
    arg: "N",
    help: `validity in days (1-${MAX_DAYS})`,
    default: String(def),
  };
}

const INIT: CommandSpec = {
  name: "certs init",
  summary: "create the private CA: ca.crt and ca.key (mode 0600)",
  usage: "certs init [--dir certs] [--force] [--key-type ecdsa-p256|rsa-3072] [--days 3650]",
  flags: [DIR, FORCE, KEY_TYPE, daysFlag(3650)],
  notes: "The CA is CA:TRUE with path length 0 (it signs only server and agent certificates).\n" +
    "An existing CA is never replaced without --force: certificates it issued stop working.",
};

const ISSUE_SERVER: CommandSpec = {
  name: "certs issue server",
  summary: "issue the server certificate (serverAuth): server.crt and server.key",
  usage: "certs issue server [--dir certs] [--name fluidity-server] [--dns N]... [--ip A]... " +
    "[--days 825] [--force]",
  flags: [
    DIR,
    {
      name: "name",
      type: "string",
      arg: "NAME",
      help: "CN and first DNS name; agents check the server by this name",
      default: "fluidity-server",
    },
    { name: "dns", type: "string", multiple: true, arg: "NAME", help: "extra DNS name (SAN)" },
    { name: "ip", type: "string", multiple: true, arg: "ADDR", help: "IP address (SAN)" },
    daysFlag(825),
    FORCE,
    KEY_TYPE,
  ],
  notes: "Agents verify the server by --name, not by its IP, so a server whose address\n" +
    "changes on every start still verifies; --ip is only needed for clients that dial by IP.",
};

const ISSUE_AGENT: CommandSpec = {
  name: "certs issue agent",
  summary: "issue an agent (client, clientAuth) certificate: <name>.crt and <name>.key",
  usage: "certs issue agent [--dir certs] [--name agent] [--days 825] [--force]",
  flags: [
    DIR,
    {
      name: "name",
      type: "string",
      arg: "NAME",
      help: "CN and file name; distinct names give distinct agent identities",
      default: "agent",
    },
    daysFlag(825),
    FORCE,
    KEY_TYPE,
  ],
};

const SHOW: CommandSpec = {
  name: "certs show",
  summary: "describe a certificate: subject, issuer, SANs, EKU, validity, SHA-256 fingerprint",
  usage: "certs show FILE",
  positionals: { min: 1, max: 1 },
  notes: `Warns on stderr when a certificate is expired or expires within 30 days.`,
};

function overview(): string {
  return [
    `fluidity certs: ${SUMMARY}`,
    "",
    "Usage: fluidity certs <subcommand> [options]",
    "",
    "Subcommands:",
    "  init            create the private CA (ca.crt, ca.key)",
    "  issue server    issue the server certificate (server.crt, server.key)",
    "  issue agent     issue an agent certificate (<name>.crt, <name>.key)",
    "  show FILE       describe a certificate",
    "",
    "Typical setup:",
    "  fluidity certs init",
    "  fluidity certs issue server",
    "  fluidity certs issue agent",
    "",
    "'fluidity certs <subcommand> --help' shows its options.",
  ].join("\n");
}

function issueOverview(): string {
  return [
    "fluidity certs issue: issue a certificate from the private CA",
    "",
    "Usage: fluidity certs issue server|agent [options]",
    "",
    "  server    serverAuth certificate → server.crt, server.key",
    "  agent     clientAuth certificate → <name>.crt, <name>.key",
    "",
    "'fluidity certs issue server --help' and 'fluidity certs issue agent --help' show the options.",
  ].join("\n");
}

function usageError(spec: CommandSpec, message: string): UsageError {
  return new UsageError(`fluidity ${spec.name}: ${message}`);
}

function stringValue(spec: CommandSpec, values: Record<string, unknown>, name: string): string {
  const v = values[name];
  if (typeof v !== "string" || v.trim() === "") {
    throw usageError(spec, `--${name} must not be empty`);
  }
  return v;
}

function daysValue(spec: CommandSpec, values: Record<string, unknown>): number {
  const raw = String(values["days"]);
  const n = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_DAYS) {
    throw usageError(
      spec,
      `--days must be a whole number of days from 1 to ${MAX_DAYS}, got ${JSON.stringify(raw)}`,
    );
  }
  return n;
}

function keyTypeValue(spec: CommandSpec, values: Record<string, unknown>): KeyType {
  const raw = String(values["key-type"]);
  if (!(KEY_TYPES as readonly string[]).includes(raw)) {
    throw usageError(
      spec,
      `--key-type must be ${KEY_TYPES.join(" or ")}, got ${JSON.stringify(raw)}`,
    );
  }
  return raw as KeyType;
}

function listValue(values: Record<string, unknown>, name: string): string[] {
  const v = values[name];
  return Array.isArray(v) ? v.map(String) : [];
}

async function fingerprintLine(certPem: string): Promise<string> {
  const [info] = await describePem(certPem);
  if (!info) return "";
  const until = info.notAfter.toISOString().slice(0, 10);
  return `  ${info.subject}, ${info.key}, valid until ${until}\n  SHA-256 ${info.sha256}`;
}

async function runInit(args: string[], ctx: CommandContext): Promise<number> {
  const parsed = parseOrHelp(INIT, args, ctx.out);
  if (!parsed) return 0;
  const v = parsed.values;
  const dir = stringValue(INIT, v, "dir");
  const keyType = keyTypeValue(INIT, v);
  const days = daysValue(INIT, v);
  const force = v["force"] === true;
  const res = await writeNewCa(dir, { keyType, days, force });
  ctx.out(`created the private CA: ${res.certPath} and ${res.keyPath} (key mode 0600)`);
  ctx.out(await fingerprintLine(res.pair.certPem));
  ctx.out(
    `next: fluidity certs issue server --dir ${dir} && fluidity certs issue agent --dir ${dir}`,
  );
  return 0;
}

async function runIssue(
  kind: "server" | "agent",
  args: string[],
  ctx: CommandContext,
): Promise<number> {
  const spec = kind === "server" ? ISSUE_SERVER : ISSUE_AGENT;
  const parsed = parseOrHelp(spec, args, ctx.out);
  if (!parsed) return 0;
  const v = parsed.values;
  const dir = stringValue(spec, v, "dir");
  const name = stringValue(spec, v, "name");
  const days = daysValue(spec, v);
  const keyType = keyTypeValue(spec, v);
  const force = v["force"] === true;
  const dns = listValue(v, "dns");
  const ips = listValue(v, "ip");
  if (kind === "server") {
    if (!isDnsName(name)) {
      throw usageError(spec, `--name ${JSON.stringify(name)} is not a valid DNS name`);
    }
    for (const d of dns) {
      if (!isDnsName(d)) {
        throw usageError(spec, `--dns ${JSON.stringify(d)} is not a valid DNS name`);
      }
    }
    for (const ip of ips) {
      if (!isIpAddress(ip)) {
        throw usageError(spec, `--ip ${JSON.stringify(ip)} is not an IP address`);
      }
    }
  } else if (!isAgentName(name)) {
    throw usageError(
      spec,
      `--name ${JSON.stringify(name)} is not a valid agent name ` +
        "(letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64)",
    );
  }
  const res = await writeIssued(dir, { kind, name, dns, ips, days, keyType, force });
  const what = kind === "server" ? "the server certificate" : `agent certificate "${name}"`;
  ctx.out(`issued ${what}: ${res.certPath} and ${res.keyPath} (key mode 0600)`);
  ctx.out(await fingerprintLine(res.pair.certPem));
  return 0;
}

async function runShow(args: string[], ctx: CommandContext): Promise<number> {
  const parsed = parseOrHelp(SHOW, args, ctx.out);
  if (!parsed) return 0;
  const file = parsed.positionals[0]!;
  if (file.trimStart().startsWith("-----BEGIN")) {
    throw usageError(SHOW, "FILE must be a path to a PEM file");
  }
  const pem = await loadPem(file, "fluidity certs show", "certificate");
  const infos = await describePem(pem);
  infos.forEach((info, i) => {
    if (infos.length > 1) ctx.out(`${i > 0 ? "\n" : ""}Certificate ${i + 1} of ${infos.length}:`);
    for (const line of formatCertInfo(info)) ctx.out(line);
    for (const w of info.warnings) {
      ctx.err(`warning: ${file}${infos.length > 1 ? ` (certificate ${i + 1})` : ""}: ${w}`);
    }
  });
  return 0;
}

/** Prefixes configuration errors from the certs modules with the subcommand, like usage errors. */
async function prefixed(name: string, fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ConfigError && !e.message.startsWith("fluidity ")) {
      throw new ConfigError(`fluidity ${name}: ${e.message}`, { cause: e });
    }
    throw e;
  }
}

/** The `certs` command for the registry. */
export function certsCommand(): Command {
  return {
    name: "certs",
    summary: SUMMARY,
    async run(args, ctx) {
      const [sub, ...rest] = args;
      switch (sub) {
        case undefined:
          ctx.err(overview());
          return 2;
        case "--help":
        case "-h":
        case "help":
          ctx.out(overview());
          return 0;
        case "init":
          return await prefixed(INIT.name, () => runInit(rest, ctx));
        case "show":
          return await prefixed(SHOW.name, () => runShow(rest, ctx));
        case "issue": {
          const [kind, ...flags] = rest;
          if (kind === "server" || kind === "agent") {
            return await prefixed(`certs issue ${kind}`, () => runIssue(kind, flags, ctx));
          }
          if (kind === "--help" || kind === "-h" || kind === "help") {
            ctx.out(issueOverview());
            return 0;
          }
          throw new UsageError(
            kind === undefined
              ? "fluidity certs issue: missing kind; usage: fluidity certs issue server|agent [options]"
              : `fluidity certs issue: unknown kind ${
                JSON.stringify(kind)
              }; expected server or agent`,
          );
        }
        default:
          throw new UsageError(
            `fluidity certs: unknown subcommand ${JSON.stringify(sub)}; ` +
              "expected init, issue or show (see 'fluidity certs --help')",
          );
      }
    },
  };
}
