/**
 * The server's proof of identity on a link, checked by the agent on top of
 * TLS.
 *
 * The agent's TLS (Deno's own, see src/agent/link_dialer.ts) trusts the
 * system or bundled roots *plus* the private CA, and cannot name the server
 * apart from the address it dials. So after the handshake the agent sends a
 * random challenge and the server answers with its certificate and a
 * signature, made with its private key, over the challenge and the digest of
 * the client certificate it saw in the handshake. The agent accepts the link
 * only when:
 *
 * - the certificate is signed by the private CA, valid now, issued for the
 *   server name and allowed for serverAuth;
 * - the signature checks against that certificate's key;
 * - the client certificate digest is its own — a TLS-intercepting proxy
 *   holding a certificate trusted by the system cannot relay the real
 *   server's proof, because the real server would have seen the proxy's
 *   client certificate (if it let it in at all), not the agent's.
 */
import {
  createHash,
  createPrivateKey,
  type KeyObject,
  randomBytes,
  sign,
  verify,
  X509Certificate,
} from "node:crypto";
import { AUTH_NONCE_SIZE, type AuthProof } from "../tunnel/frames.ts";
import { pemBlocks } from "./pem.ts";
import { extendedKeyUsages, USAGE } from "./der.ts";

const CONTEXT = new TextEncoder().encode("fluidity link proof v1\0");

/** The server could not prove its identity; the link is not used. */
export class ProofError extends Error {
  override name = "ProofError";
}

function message(nonce: Uint8Array, clientCertDer: Uint8Array): Uint8Array {
  const digest = createHash("sha256").update(clientCertDer).digest();
  const out = new Uint8Array(CONTEXT.length + nonce.length + digest.length);
  out.set(CONTEXT);
  out.set(nonce, CONTEXT.length);
  out.set(digest, CONTEXT.length + nonce.length);
  return out;
}

/** Digest for sign/verify: Ed25519/Ed448 sign the message itself. */
function digestFor(key: KeyObject): string | null {
  const t = key.asymmetricKeyType;
  return t === "ed25519" || t === "ed448" ? null : "sha256";
}

function firstCertDer(pem: string, what: string): Uint8Array {
  const b = pemBlocks(pem).find((x) => x.label === "CERTIFICATE");
  if (!b) throw new Error(`${what} holds no certificate`);
  return b.der;
}

/**
 * The server side: answers a challenge for the client certificate seen on
 * this link (`clientCertDer`).
 */
export function linkProver(
  certPem: string,
  keyPem: string,
): (nonce: Uint8Array, clientCertDer: Uint8Array) => AuthProof {
  const cert = firstCertDer(certPem, "the server certificate");
  const key = createPrivateKey(keyPem);
  const alg = digestFor(key);
  return (nonce, clientCertDer) => {
    if (nonce.length !== AUTH_NONCE_SIZE) {
      throw new ProofError(`AUTH challenge of ${nonce.length} bytes (expected ${AUTH_NONCE_SIZE})`);
    }
    return { cert, signature: new Uint8Array(sign(alg, message(nonce, clientCertDer), key)) };
  };
}

export interface ProofCheck {
  /** The random challenge to send. */
  nonce: Uint8Array;
  /** Throws {@linkcode ProofError} unless the answer proves the server's identity. */
  verify(proof: AuthProof): void;
}

export interface ProofExpectation {
  /** PEM of the private CA (one or more certificates). */
  caPem: string;
  /** The name the server's certificate must carry (DNS name or IP address). */
  serverName: string;
  /** PEM of this agent's certificate (its first certificate is what the server saw). */
  agentCertPem: string;
  now?: () => number;
}

const isIp = (s: string) => /^[0-9.]+$/.test(s) || s.includes(":");

/** The agent side: a fresh challenge and the check of its answer. */
export function proofCheck(o: ProofExpectation): ProofCheck {
  const cas = pemBlocks(o.caPem).filter((b) => b.label === "CERTIFICATE")
    .map((b) => new X509Certificate(b.der));
  const ownCert = firstCertDer(o.agentCertPem, "the agent certificate");
  const nonce = new Uint8Array(randomBytes(AUTH_NONCE_SIZE));
  const now = o.now ?? Date.now;
  return {
    nonce,
    verify(proof) {
      let cert: X509Certificate;
      try {
        cert = new X509Certificate(proof.cert);
      } catch (e) {
        throw new ProofError(
          `presented a certificate that does not parse: ${(e as Error).message}`,
        );
      }
      const subject = cert.subject.replace(/\n/g, ", ");
      if (!cas.some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey))) {
        throw new ProofError(
          `presented a certificate this agent does not trust: ${subject} is not signed by ` +
            "the private CA (tls.ca)",
        );
      }
      const t = now();
      if (t < Date.parse(cert.validFrom) || t > Date.parse(cert.validTo)) {
        throw new ProofError(
          `presented a certificate that is not valid now: ${subject} is valid from ` +
            `${cert.validFrom} to ${cert.validTo}`,
        );
      }
      const named = isIp(o.serverName) ? cert.checkIP(o.serverName) : cert.checkHost(o.serverName);
      if (!named) {
        throw new ProofError(
          `presented a certificate not issued for "${o.serverName}" (check --server-name): ` +
            subject,
        );
      }
      let usages: string[] | undefined;
      try {
        usages = extendedKeyUsages(proof.cert);
      } catch (e) {
        throw new ProofError(
          `presented a certificate that does not parse: ${(e as Error).message}`,
        );
      }
      if (usages && !usages.includes(USAGE.serverAuth)) {
        throw new ProofError(`presented a certificate not allowed for serverAuth: ${subject}`);
      }
      const key = cert.publicKey;
      let ok = false;
      try {
        ok = verify(digestFor(key), message(nonce, ownCert), key, proof.signature);
      } catch {
        ok = false;
      }
      if (!ok) {
        throw new ProofError(
          "failed to prove it holds its certificate's key for this link: the link may be " +
            "intercepted by a TLS proxy (the server saw another client certificate), or the " +
            "server's key does not match its certificate",
        );
      }
    },
  };
}
