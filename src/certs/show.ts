/**
 * Describes certificates for `fluidity certs show`: subject, issuer, SANs,
 * key usage, EKU, validity, SHA-256 fingerprint, and warnings for
 * certificates that are expired, not yet valid or expire within 30 days.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { pemBlocks } from "./pem.ts";

/** What `certs show` prints about one certificate. */
export interface CertInfo {
  subject: string;
  issuer: string;
  /** Hex. */
  serial: string;
  /** `ECDSA P-256`, `RSA 3072`. */
  key: string;
  selfSigned: boolean;
  ca: boolean;
  pathLength?: number;
  /** `DNS:name`, `IP:addr`, … */
  sans: string[];
  keyUsage: string[];
  /** `serverAuth`, `clientAuth`, or the OID of another purpose. */
  extendedKeyUsage: string[];
  notBefore: Date;
  notAfter: Date;
  /** `AB:CD:…`, as `openssl x509 -fingerprint -sha256` prints it. */
  sha256: string;
  /** Whole days until `notAfter` (negative once expired). */
  daysLeft: number;
  /** Expired, not yet valid, or expiring within {@linkcode EXPIRY_WARNING_DAYS}. */
  warnings: string[];
}

/** `certs show` warns when a certificate expires within this many days. */
export const EXPIRY_WARNING_DAYS = 30;

const DAY_MS = 86_400_000;

const EKU_NAMES: Record<string, string> = {
  [x509.ExtendedKeyUsage.serverAuth]: "serverAuth",
  [x509.ExtendedKeyUsage.clientAuth]: "clientAuth",
  [x509.ExtendedKeyUsage.codeSigning]: "codeSigning",
  [x509.ExtendedKeyUsage.emailProtection]: "emailProtection",
  [x509.ExtendedKeyUsage.timeStamping]: "timeStamping",
  [x509.ExtendedKeyUsage.ocspSigning]: "ocspSigning",
};

const KEY_USAGE_NAMES: Array<[number, string]> = [
  [x509.KeyUsageFlags.digitalSignature, "digitalSignature"],
  [x509.KeyUsageFlags.nonRepudiation, "nonRepudiation"],
  [x509.KeyUsageFlags.keyEncipherment, "keyEncipherment"],
  [x509.KeyUsageFlags.dataEncipherment, "dataEncipherment"],
  [x509.KeyUsageFlags.keyAgreement, "keyAgreement"],
  [x509.KeyUsageFlags.keyCertSign, "keyCertSign"],
  [x509.KeyUsageFlags.cRLSign, "cRLSign"],
  [x509.KeyUsageFlags.encipherOnly, "encipherOnly"],
  [x509.KeyUsageFlags.decipherOnly, "decipherOnly"],
];

const SAN_PREFIX: Record<string, string> = {
  dns: "DNS",
  ip: "IP",
  email: "email",
  url: "URI",
  dn: "DirName",
  guid: "GUID",
  upn: "UPN",
  id: "RID",
};

function keyText(cert: x509.X509Certificate): string {
  const alg = cert.publicKey.algorithm as Partial<EcKeyAlgorithm & RsaKeyAlgorithm>;
  if (alg.namedCurve) return `${alg.name} ${alg.namedCurve}`;
  if (alg.modulusLength) return `RSA ${alg.modulusLength}`;
  return alg.name ?? "unknown";
}

function hexColons(buf: ArrayBuffer): string {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0").toUpperCase())
    .join(":");
}

/** Describes one DER certificate as of `now`. */
export async function describeCertificate(
  der: BufferSource | string,
  now: Date = new Date(),
): Promise<CertInfo> {
  const cert = new x509.X509Certificate(der);
  const basic = cert.getExtension(x509.BasicConstraintsExtension);
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const daysLeft = Math.floor((cert.notAfter.getTime() - now.getTime()) / DAY_MS);
  const warnings: string[] = [];
  if (cert.notAfter <= now) {
    warnings.push(
      `expired ${
        Math.floor((now.getTime() - cert.notAfter.getTime()) / DAY_MS)
      } day(s) ago, on ${cert.notAfter.toISOString()}`,
    );
  } else if (cert.notBefore > now) {
    warnings.push(`not valid until ${cert.notBefore.toISOString()}`);
  } else if (cert.notAfter.getTime() - now.getTime() <= EXPIRY_WARNING_DAYS * DAY_MS) {
    warnings.push(
      `expires in ${daysLeft} day(s), on ${cert.notAfter.toISOString()}; issue a new one soon`,
    );
  }
  return {
    subject: cert.subject,
    issuer: cert.issuer,
    serial: cert.serialNumber,
    key: keyText(cert),
    selfSigned: cert.subject === cert.issuer && await cert.isSelfSigned(),
    ca: basic?.ca ?? false,
    pathLength: basic?.pathLength,
    sans: san?.names.toJSON().map((n) => `${SAN_PREFIX[n.type] ?? n.type}:${n.value}`) ?? [],
    keyUsage: ku ? KEY_USAGE_NAMES.filter(([f]) => (ku.usages & f) !== 0).map(([, n]) => n) : [],
    extendedKeyUsage: eku ? Array.from(eku.usages, (u) => EKU_NAMES[String(u)] ?? String(u)) : [],
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    sha256: hexColons(await cert.getThumbprint("SHA-256")),
    daysLeft,
    warnings,
  };
}

/** Describes every certificate in PEM text (a bundle may hold several). */
export async function describePem(pem: string, now: Date = new Date()): Promise<CertInfo[]> {
  const out: CertInfo[] = [];
  for (const b of pemBlocks(pem)) {
    if (b.label === "CERTIFICATE") out.push(await describeCertificate(b.der, now));
  }
  return out;
}

function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** The lines `certs show` prints for one certificate (warnings not included). */
export function formatCertInfo(info: CertInfo): string[] {
  const left = info.daysLeft >= 0 ? `${info.daysLeft} days left` : "expired";
  const purpose = info.extendedKeyUsage.map((u) =>
    u === "serverAuth"
      ? "serverAuth (TLS server)"
      : u === "clientAuth"
      ? "clientAuth (TLS client)"
      : u
  );
  const rows: Array<[string, string]> = [
    ["Subject", info.subject],
    ["Issuer", info.issuer + (info.selfSigned ? " (self-signed)" : "")],
    ["Serial", info.serial],
    ["Key", info.key],
    [
      "CA",
      info.ca
        ? `yes${info.pathLength !== undefined ? `, path length ${info.pathLength}` : ""}`
        : "no",
    ],
    ["SANs", info.sans.length ? info.sans.join(", ") : "(none)"],
    ["Key usage", info.keyUsage.length ? info.keyUsage.join(", ") : "(none)"],
    ["Extended key usage", purpose.length ? purpose.join(", ") : "(none)"],
    ["Not before", isoSeconds(info.notBefore)],
    ["Not after", `${isoSeconds(info.notAfter)} (${left})`],
    ["SHA-256", info.sha256],
  ];
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  return rows.map(([k, v]) => `${(k + ":").padEnd(width)}${v}`);
}
