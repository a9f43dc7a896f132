/**
 * Just enough DER to read one X.509 extension: the extended key usages of a
 * certificate. `node:crypto`'s X509Certificate does not expose them under
 * Deno (its `keyUsage` lists the plain key usages), and @peculiar/x509 costs
 * ~20 MB of RSS to import, too much for the agent that checks the server's
 * identity proof (src/certs/link_proof.ts) on every link.
 */

/** A DER element: its tag and where its contents lie in the buffer. */
interface Tlv {
  tag: number;
  start: number;
  end: number;
}

function tlv(b: Uint8Array, off: number, limit: number): Tlv {
  if (off + 2 > limit) throw new Error("truncated DER");
  const tag = b[off]!;
  let len = b[off + 1]!;
  let start = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > limit) throw new Error("unsupported DER length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[start + i]!;
    start += n;
  }
  const end = start + len;
  if (end > limit) throw new Error("truncated DER");
  return { tag, start, end };
}

function children(b: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let off = parent.start; off < parent.end;) {
    const t = tlv(b, off, parent.end);
    out.push(t);
    off = t.end;
  }
  return out;
}

const SEQUENCE = 0x30;
const OID = 0x06;
const OCTET_STRING = 0x04;
const EXTENSIONS = 0xa3; // [3] EXPLICIT in TBSCertificate
const EKU_OID = "551d25"; // 2.5.29.37

const hex = (b: Uint8Array, t: Tlv) =>
  Array.from(b.subarray(t.start, t.end), (x) => x.toString(16).padStart(2, "0")).join("");

/** DER-encoded OID contents of the usages named in logs and checks. */
export const USAGE = {
  serverAuth: "2b06010505070301", // 1.3.6.1.5.5.7.3.1
  clientAuth: "2b06010505070302", // 1.3.6.1.5.5.7.3.2
} as const;

/**
 * The extended key usages of a DER certificate, as hex of each OID's
 * contents (compare with {@linkcode USAGE}); `undefined` when the
 * certificate has no such extension. Throws on malformed DER.
 */
export function extendedKeyUsages(cert: Uint8Array): string[] | undefined {
  const top = tlv(cert, 0, cert.length);
  if (top.tag !== SEQUENCE) throw new Error("not a DER certificate");
  const tbs = children(cert, top)[0];
  if (!tbs || tbs.tag !== SEQUENCE) throw new Error("not a DER certificate");
  const ext = children(cert, tbs).find((t) => t.tag === EXTENSIONS);
  if (!ext) return undefined;
  const list = children(cert, ext)[0];
  if (!list || list.tag !== SEQUENCE) throw new Error("malformed extensions");
  for (const e of children(cert, list)) {
    const parts = children(cert, e);
    if (parts[0]?.tag !== OID || hex(cert, parts[0]) !== EKU_OID) continue;
    const value = parts[parts.length - 1]!;
    if (value.tag !== OCTET_STRING) throw new Error("malformed extended key usage");
    const seq = tlv(cert, value.start, value.end);
    if (seq.tag !== SEQUENCE) throw new Error("malformed extended key usage");
    return children(cert, seq).filter((t) => t.tag === OID).map((t) => hex(cert, t));
  }
  return undefined;
}
