/**
 * The private CA and the certificates it issues, on `@peculiar/x509` and
 * WebCrypto (no openssl). Everything is PEM in, PEM out, so the same module
 * serves `fluidity certs` and the tests that mint throwaway PKIs.
 *
 * @example
 * ```ts
 * const ca = await createCA();
 * const server = await issueCert(ca, { kind: "server", name: "fluidity-server", ips: ["127.0.0.1"] });
 * const agent = await issueCert(ca, { kind: "agent", name: "laptop" });
 * ```
 */
// @peculiar/x509 resolves its ASN.1 services through tsyringe, which needs this polyfill first.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { isDnsName, isIpAddress } from "./names.ts";

/** Key algorithms Fluidity generates. */
export type KeyType = "ecdsa-p256" | "rsa-3072";

/** Every {@linkcode KeyType}, for flag validation and help text. */
export const KEY_TYPES: readonly KeyType[] = ["ecdsa-p256", "rsa-3072"];

/** A certificate and its private key, both PEM. */
export interface PemPair {
  /** `-----BEGIN CERTIFICATE-----` */
  certPem: string;
  /** PKCS#8: `-----BEGIN PRIVATE KEY-----` */
  keyPem: string;
}

export interface CaOptions {
  /** Subject CN. Default `"Fluidity CA"`. */
  name?: string;
  /** Default `"ecdsa-p256"`. */
  keyType?: KeyType;
  /** Validity in days from now. Default 3650. */
  days?: number;
  /** Default: five minutes ago (tolerates clock skew between machines). */
  notBefore?: Date;
  /** Default: `notBefore` + `days`. */
  notAfter?: Date;
}

export interface IssueOptions {
  /** `server` gets the serverAuth EKU, `agent` the clientAuth EKU. */
  kind: "server" | "agent";
  /** Subject CN; for a server also the first DNS SAN. */
  name: string;
  /** Extra DNS SANs. */
  dns?: string[];
  /** Extra IP SANs. */
  ips?: string[];
  /** Validity in days. Default 825; capped at the CA's own expiry unless `notAfter` is given. */
  days?: number;
  /** Default: five minutes ago. */
  notBefore?: Date;
  /** Default: `notBefore` + `days` (capped at the CA's expiry). */
  notAfter?: Date;
  /** Overrides the EKU implied by `kind` (tests mint wrong-EKU certificates). */
  ekus?: ("serverAuth" | "clientAuth")[];
  /** Default `"ecdsa-p256"`. */
  keyType?: KeyType;
}

const DAY_MS = 86_400_000;
const SKEW_MS = 5 * 60_000;
const MAX_DAYS = 36_500;
const CN = "2.5.4.3";

interface KeyAlgorithms {
  generate: EcKeyGenParams | RsaHashedKeyGenParams;
  import: EcKeyImportParams | RsaHashedImportParams;
  sign: EcdsaParams | Algorithm;
}

function algorithms(keyType: KeyType): KeyAlgorithms {
  switch (keyType) {
    case "ecdsa-p256":
      return {
        generate: { name: "ECDSA", namedCurve: "P-256" },
        import: { name: "ECDSA", namedCurve: "P-256" },
        sign: { name: "ECDSA", hash: "SHA-256" } as EcdsaParams,
      };
    case "rsa-3072":
      return {
        generate: {
          name: "RSASSA-PKCS1-v1_5",
          modulusLength: 3072,
          publicExponent: new Uint8Array([1, 0, 1]),
          hash: "SHA-256",
        },
        import: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
        sign: { name: "RSASSA-PKCS1-v1_5" },
      };
    default:
      throw new TypeError(
        `Unknown key type ${JSON.stringify(keyType)}: expected ${
          KEY_TYPES.map((k) => JSON.stringify(k)).join(" or ")
        }`,
      );
  }
}

/** The key type of a certificate's public key, or a `TypeError` for one Fluidity does not make. */
function keyTypeOf(cert: x509.X509Certificate): KeyType {
  const alg = cert.publicKey.algorithm as Partial<EcKeyAlgorithm & RsaKeyAlgorithm>;
  if (alg.name === "ECDSA" && alg.namedCurve === "P-256") return "ecdsa-p256";
  if (alg.name === "RSASSA-PKCS1-v1_5" && alg.modulusLength !== undefined) return "rsa-3072";
  const what = alg.namedCurve ?? alg.modulusLength ?? "";
  throw new TypeError(
    `Unsupported CA key algorithm ${JSON.stringify(`${alg.name} ${what}`.trim())}: ` +
      "expected ECDSA P-256 or RSA",
  );
}

/** A random positive 128-bit serial number, as hex (leading byte 0x40-0x7f: no sign, no padding). */
function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0]! & 0x3f) | 0x40;
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function checkDays(days: number): void {
  if (!Number.isInteger(days) || days < 1 || days > MAX_DAYS) {
    throw new RangeError(`Validity must be 1-${MAX_DAYS} whole days, got ${days}`);
  }
}

function validity(
  options: { days?: number; notBefore?: Date; notAfter?: Date },
  defaultDays: number,
  cap?: Date,
): { notBefore: Date; notAfter: Date } {
  const days = options.days ?? defaultDays;
  checkDays(days);
  const notBefore = options.notBefore ?? new Date(Date.now() - SKEW_MS);
  let notAfter = options.notAfter ?? new Date(notBefore.getTime() + days * DAY_MS);
  if (!options.notAfter && cap && notAfter > cap) notAfter = cap;
  if (notAfter <= notBefore) {
    throw new RangeError(
      `Certificate would expire (${notAfter.toISOString()}) before it starts (${notBefore.toISOString()})`,
    );
  }
  return { notBefore, notAfter };
}

function pemOfKey(pkcs8: ArrayBuffer): string {
  return withNewline(x509.PemConverter.encode(pkcs8, "PRIVATE KEY"));
}

function withNewline(pem: string): string {
  const text = pem.replace(/\r\n/g, "\n").trim();
  return `${text}\n`;
}

async function generate(keyType: KeyType): Promise<CryptoKeyPair> {
  return await crypto.subtle.generateKey(algorithms(keyType).generate, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
}

/**
 * Creates a self-signed CA: CA:TRUE with path length 0 (it signs only leaf
 * certificates), key usage keyCertSign + cRLSign, a random 128-bit serial.
 */
export async function createCA(options: CaOptions = {}): Promise<PemPair> {
  const name = options.name ?? "Fluidity CA";
  const keyType = options.keyType ?? "ecdsa-p256";
  const alg = algorithms(keyType);
  const { notBefore, notAfter } = validity(options, 3650);
  const keys = await generate(keyType);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ [CN]: [name] }],
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: alg.sign,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return {
    certPem: withNewline(cert.toString("pem")),
    keyPem: pemOfKey(await crypto.subtle.exportKey("pkcs8", keys.privateKey)),
  };
}

/** A CA certificate and its signing key, parsed and checked to belong together. */
interface LoadedCa {
  cert: x509.X509Certificate;
  key: CryptoKey;
  keyType: KeyType;
}

async function loadCa(ca: PemPair): Promise<LoadedCa> {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(ca.certPem);
  } catch (e) {
    throw new TypeError(`CA certificate is not a valid PEM certificate`, { cause: e });
  }
  const basic = cert.getExtension(x509.BasicConstraintsExtension);
  if (!basic?.ca) {
    throw new TypeError(`Certificate "${cert.subject}" is not a CA (no CA:TRUE basic constraint)`);
  }
  const keyType = keyTypeOf(cert);
  let key: CryptoKey;
  try {
    const der = x509.PemConverter.decodeFirst(ca.keyPem);
    key = await crypto.subtle.importKey("pkcs8", der, algorithms(keyType).import, true, ["sign"]);
  } catch (e) {
    throw new TypeError(
      `CA private key is not a PKCS#8 ${keyType} key ("-----BEGIN PRIVATE KEY-----")`,
      { cause: e },
    );
  }
  // The private JWK carries the public parameters: compare them with the certificate's key.
  const priv = await crypto.subtle.exportKey("jwk", key);
  const pub = await crypto.subtle.exportKey("jwk", await cert.publicKey.export());
  const same = keyType === "ecdsa-p256"
    ? priv.x === pub.x && priv.y === pub.y
    : priv.n === pub.n && priv.e === pub.e;
  if (!same) {
    throw new TypeError(`CA private key does not match the CA certificate "${cert.subject}"`);
  }
  return { cert, key, keyType };
}

const EKU_OIDS = {
  serverAuth: x509.ExtendedKeyUsage.serverAuth,
  clientAuth: x509.ExtendedKeyUsage.clientAuth,
} as const;

/**
 * Issues a leaf certificate signed by `ca`: CA:FALSE, digitalSignature (plus
 * keyEncipherment for RSA keys), the EKU for `kind`, SANs = for a server its
 * name, then `dns`, then `ips`. Throws `TypeError`/`RangeError` naming the bad
 * value for an invalid name, IP, validity or a CA key that does not match.
 */
export async function issueCert(ca: PemPair, options: IssueOptions): Promise<PemPair> {
  if (options.kind !== "server" && options.kind !== "agent") {
    throw new TypeError(`Unknown certificate kind ${JSON.stringify(options.kind)}`);
  }
  if (!options.name || [...options.name].some((c) => c.charCodeAt(0) < 0x20)) {
    throw new TypeError(`Invalid certificate name ${JSON.stringify(options.name)}`);
  }
  const dns = [...(options.kind === "server" ? [options.name] : []), ...(options.dns ?? [])];
  for (const d of dns) {
    if (!isDnsName(d)) throw new TypeError(`Invalid DNS name ${JSON.stringify(d)}`);
  }
  const ips = options.ips ?? [];
  for (const ip of ips) {
    if (!isIpAddress(ip)) throw new TypeError(`Invalid IP address ${JSON.stringify(ip)}`);
  }
  const keyType = options.keyType ?? "ecdsa-p256";
  algorithms(keyType); // validates keyType before the slower work
  const issuer = await loadCa(ca);
  const { notBefore, notAfter } = validity(options, 825, issuer.cert.notAfter);
  const keys = await generate(keyType);

  const ekus = options.ekus ?? [options.kind === "server" ? "serverAuth" : "clientAuth"];
  const caSki = issuer.cert.getExtension(x509.SubjectKeyIdentifierExtension);
  const seen = new Set<string>();
  const sans: { type: "dns" | "ip"; value: string }[] = [];
  for (const value of dns) {
    if (!seen.has(value.toLowerCase())) sans.push({ type: "dns", value });
    seen.add(value.toLowerCase());
  }
  for (const value of ips) {
    if (!seen.has(value)) sans.push({ type: "ip", value });
    seen.add(value);
  }
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(
      x509.KeyUsageFlags.digitalSignature |
        (keyType === "rsa-3072" ? x509.KeyUsageFlags.keyEncipherment : 0),
      true,
    ),
    new x509.ExtendedKeyUsageExtension(ekus.map((e) => EKU_OIDS[e]), false),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    caSki
      ? new x509.AuthorityKeyIdentifierExtension(caSki.keyId)
      : await x509.AuthorityKeyIdentifierExtension.create(issuer.cert.publicKey),
  ];
  if (sans.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(sans));

  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ [CN]: [options.name] }],
    issuer: issuer.cert.subjectName,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: issuer.key,
    signingAlgorithm: algorithms(issuer.keyType).sign,
    extensions,
  });
  return {
    certPem: withNewline(cert.toString("pem")),
    keyPem: pemOfKey(await crypto.subtle.exportKey("pkcs8", keys.privateKey)),
  };
}

/**
 * Checks that `ca` is a usable CA pair (a CA certificate and the private key
 * that matches it); throws a `TypeError` saying what is wrong.
 */
export async function checkCaPair(ca: PemPair): Promise<void> {
  await loadCa(ca);
}
