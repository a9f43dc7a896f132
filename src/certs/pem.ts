/**
 * Loads PEM certificates and keys given either as a file path or as the PEM
 * text itself (the `FLUIDITY_TLS_CERT`, `FLUIDITY_TLS_KEY` and
 * `FLUIDITY_TLS_CA` variables hold PEM text on Fargate).
 */
// node:crypto's X509Certificate, not @peculiar/x509: the agent and server load
// this module at start, and the x509 library's import costs ~20 MB of RSS.
import { X509Certificate } from "node:crypto";
import { ConfigError } from "../errors.ts";

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** One PEM block: its label (`CERTIFICATE`, `PRIVATE KEY`, …) and DER bytes. */
export interface PemBlock {
  label: string;
  der: Uint8Array<ArrayBuffer>;
}

/** Splits PEM text into blocks; a block whose body is not base64 is skipped. */
export function pemBlocks(text: string): PemBlock[] {
  const out: PemBlock[] = [];
  for (const m of text.matchAll(BLOCK)) {
    const body = m[2]!.replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) continue;
    try {
      const bin = atob(body);
      out.push({ label: m[1]!, der: Uint8Array.from(bin, (c) => c.charCodeAt(0)) });
    } catch {
      // not base64: treated as absent
    }
  }
  return out;
}

/** True when `value` is PEM text rather than a path. */
export function isPemText(value: string): boolean {
  return value.trimStart().startsWith("-----BEGIN");
}

const KEY_LABELS = new Set(["PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"]);

function readError(e: unknown): string {
  if (e instanceof Deno.errors.NotFound) return "no such file";
  if (e instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (e instanceof Deno.errors.IsADirectory) return "is a directory, not a file";
  return (e as Error).message.split("\n")[0]!;
}

/** Why `text` is not the expected PEM, or undefined when it is. */
function problem(text: string, kind: "certificate" | "private key"): string | undefined {
  const blocks = pemBlocks(text);
  if (kind === "certificate") {
    const certs = blocks.filter((b) => b.label === "CERTIFICATE");
    if (certs.length === 0) {
      if (blocks.some((b) => KEY_LABELS.has(b.label))) {
        return "holds a private key where a certificate was expected";
      }
      return 'is not a PEM certificate (expected "-----BEGIN CERTIFICATE-----")';
    }
    for (const b of certs) {
      try {
        new X509Certificate(b.der);
      } catch {
        return "holds a PEM certificate block that does not parse as X.509";
      }
    }
    return undefined;
  }
  if (blocks.some((b) => b.label === "ENCRYPTED PRIVATE KEY")) {
    return "holds an encrypted private key; Fluidity needs an unencrypted PKCS#8 key";
  }
  const keys = blocks.filter((b) => KEY_LABELS.has(b.label));
  if (keys.length === 0) {
    if (blocks.some((b) => b.label === "CERTIFICATE")) {
      return "holds a certificate where a private key was expected";
    }
    return 'is not a PEM private key (expected "-----BEGIN PRIVATE KEY-----")';
  }
  if (keys.length > 1) return "holds more than one private key";
  return undefined;
}

/** Env values sometimes carry `\n` escapes instead of newlines; PEM needs real ones. */
function unescapeNewlines(text: string): string {
  return !text.includes("\n") && text.includes("\\n") ? text.replaceAll("\\n", "\n") : text;
}

/**
 * Returns PEM text for a setting whose `value` is either PEM text (starts with
 * `-----BEGIN`) or a file path. `what` names the setting for messages, e.g.
 * `"tls.cert (--cert)"`. Throws {@linkcode ConfigError} with a one-line
 * message naming `what` and the path when the file is missing or unreadable or
 * does not hold the expected PEM. Key material never appears in messages.
 *
 * @example
 * ```ts
 * const key = await loadPem(config.tls.key, "tls.key (--key)", "private key");
 * ```
 */
export async function loadPem(
  value: string,
  what: string,
  kind: "certificate" | "private key",
): Promise<string> {
  if (value.trim() === "") {
    throw new ConfigError(`${what}: empty; expected a PEM file path or the PEM text itself`);
  }
  let text: string;
  let source: string;
  if (isPemText(value)) {
    text = unescapeNewlines(value);
    source = "the PEM text given";
  } else {
    source = JSON.stringify(value);
    try {
      text = await Deno.readTextFile(value);
    } catch (e) {
      throw new ConfigError(`${what}: cannot read ${kind} file ${source}: ${readError(e)}`);
    }
  }
  const why = problem(text, kind);
  if (why) throw new ConfigError(`${what}: ${source} ${why}`);
  return text.replace(/\r\n/g, "\n");
}
