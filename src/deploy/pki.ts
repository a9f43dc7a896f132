/**
 * The certificates `deploy up` needs: the private CA (created or reused), the
 * server certificate (for Secrets Manager) and the agent certificate (for
 * agent.yaml). Existing files are reused when they fit and never overwritten.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import type { PemPair } from "../certs/ca.ts";
import { certPaths, exists, readCa, writeIssued, writeNewCa } from "../certs/files.ts";
import { describePem } from "../certs/show.ts";
import { ConfigError } from "../errors.ts";

/** Reads `ca.crt`/`ca.key` from `dir`, creating a new CA when neither exists. */
export async function ensureCa(
  dir: string,
  out: (line: string) => void,
): Promise<{ pair: PemPair; certPath: string; created: boolean }> {
  const p = certPaths(dir, "ca");
  const [c, k] = [await exists(p.cert), await exists(p.key)];
  if (!c && !k) {
    const r = await writeNewCa(dir);
    out(`created a private CA in ${dir} (ca.key stays on this machine)`);
    return { pair: r.pair, certPath: p.cert, created: true };
  }
  if (c !== k) {
    const [present, missing] = c ? [p.cert, p.key] : [p.key, p.cert];
    throw new ConfigError(
      `${JSON.stringify(present)} exists without ${JSON.stringify(missing)}: ` +
        "restore it, or move both away to have a new CA created",
    );
  }
  const pair = await readCa(dir);
  out(`using the CA in ${dir}`);
  return { pair, certPath: p.cert, created: false };
}

export interface IssuedFiles {
  certPath: string;
  keyPath: string;
  certPem: string;
  keyPem: string;
  created: boolean;
}

/**
 * `<base>.crt`/`.key` in `dir`: issued from the CA when both are missing,
 * otherwise checked (signed by the CA, right EKU, server name, not expired).
 */
export async function ensureIssued(
  dir: string,
  ca: PemPair,
  want: { kind: "server" | "agent"; name: string; base: string },
  out: (line: string) => void,
): Promise<IssuedFiles> {
  const p = certPaths(dir, want.base);
  const [c, k] = [await exists(p.cert), await exists(p.key)];
  if (!c && !k) {
    const r = await writeIssued(dir, { kind: want.kind, name: want.name, fileBase: want.base });
    out(`issued the ${want.kind} certificate ${p.cert} (${want.name})`);
    return { ...r, certPem: r.pair.certPem, keyPem: r.pair.keyPem, created: true };
  }
  if (c !== k) {
    const [present, missing] = c ? [p.cert, p.key] : [p.key, p.cert];
    throw new ConfigError(
      `${JSON.stringify(present)} exists without ${JSON.stringify(missing)}: ` +
        "remove it to have a new pair issued",
    );
  }
  const certPem = await Deno.readTextFile(p.cert);
  const keyPem = await Deno.readTextFile(p.key);
  const warnings = await checkIssued(p.cert, certPem, ca, want);
  out(`using the ${want.kind} certificate ${p.cert}`);
  for (const w of warnings) out(`  warning: ${p.cert}: ${w}`);
  return { certPath: p.cert, keyPath: p.key, certPem, keyPem, created: false };
}

async function checkIssued(
  path: string,
  certPem: string,
  ca: PemPair,
  want: { kind: "server" | "agent"; name: string },
): Promise<string[]> {
  const q = JSON.stringify(path);
  const fix = "; remove it and its key to have a new one issued";
  let signed = false;
  try {
    const caCert = new x509.X509Certificate(ca.certPem);
    const cert = new x509.X509Certificate(certPem);
    signed = await cert.verify({ publicKey: caCert.publicKey, signatureOnly: true });
  } catch {
    signed = false;
  }
  if (!signed) throw new ConfigError(`${q} is not a certificate signed by the CA${fix}`);
  const [info] = await describePem(certPem);
  if (!info) throw new ConfigError(`${q} holds no certificate${fix}`);
  if (info.notAfter.getTime() <= Date.now()) {
    throw new ConfigError(`${q} expired on ${info.notAfter.toISOString()}${fix}`);
  }
  const eku = want.kind === "server" ? "serverAuth" : "clientAuth";
  if (!info.extendedKeyUsage.includes(eku)) {
    throw new ConfigError(`${q} lacks the ${eku} extended key usage${fix}`);
  }
  if (want.kind === "server" && !info.sans.includes(`DNS:${want.name}`)) {
    throw new ConfigError(
      `${q} is not valid for the server name ${JSON.stringify(want.name)} (server_name), ` +
        `it names ${info.sans.join(", ") || "nothing"}${fix}`,
    );
  }
  return info.warnings;
}
