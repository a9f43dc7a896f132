/**
 * Credentials for the agent's own fronts (HTTP `Proxy-Authorization: Basic`
 * and SOCKS5 username/password): a list of `user:password` entries and/or an
 * htpasswd-style file. File entries may be plain text, `{SHA}` (htpasswd -s)
 * or MD5-crypt `$apr1$`/`$1$` (htpasswd -m, the Apache default); bcrypt and
 * SHA-crypt entries are refused when loading, with the line number.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { RequestHead } from "../http/head.ts";
import { ConfigError } from "../errors.ts";

/** Returns true when `user`/`password` may use the proxy. */
export type CredentialCheck = (user: string, password: string) => boolean;

type Verifier = (password: string) => boolean;

const ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** MD5-crypt as in Apache's `$apr1$` and glibc's `$1$` (same algorithm, different magic). */
export function md5Crypt(
  password: string,
  salt: string,
  magic: "$apr1$" | "$1$" = "$apr1$",
): string {
  const pw = new TextEncoder().encode(password);
  const s = new TextEncoder().encode(salt.split("$")[0]!.slice(0, 8));
  const md5 = () => createHash("md5");
  let alt = md5().update(pw).update(s).update(pw).digest();
  const ctx = md5().update(pw).update(magic).update(s);
  for (let n = pw.length; n > 0; n -= 16) ctx.update(alt.subarray(0, Math.min(16, n)));
  for (let i = pw.length; i; i >>= 1) ctx.update(i & 1 ? new Uint8Array(1) : pw.subarray(0, 1));
  alt = ctx.digest();
  for (let i = 0; i < 1000; i++) {
    const c = md5();
    c.update(i & 1 ? pw : alt);
    if (i % 3) c.update(s);
    if (i % 7) c.update(pw);
    c.update(i & 1 ? alt : pw);
    alt = c.digest();
  }
  let out = "";
  const to64 = (v: number, n: number) => {
    for (; n > 0; n--, v >>= 6) out += ITOA64[v & 0x3f];
  };
  for (const [a, b, c] of [[0, 6, 12], [1, 7, 13], [2, 8, 14], [3, 9, 15], [4, 10, 5]]) {
    to64((alt[a!]! << 16) | (alt[b!]! << 8) | alt[c!]!, 4);
  }
  to64(alt[11]!, 2);
  return `${magic}${new TextDecoder().decode(s)}$${out}`;
}

/** Compares without leaking where the strings differ (or their lengths). */
function sameSecret(a: string, b: string): boolean {
  const h = (x: string) => createHash("sha256").update(x).digest();
  return timingSafeEqual(h(a), h(b));
}

function verifierFor(stored: string, where: string): Verifier {
  if (stored.startsWith("{SHA}")) {
    return (p) => sameSecret(createHash("sha1").update(p).digest("base64"), stored.slice(5));
  }
  const m = /^(\$apr1\$|\$1\$)([^$]{0,8})\$/.exec(stored);
  if (m) return (p) => sameSecret(md5Crypt(p, m[2]!, m[1] as "$apr1$" | "$1$"), stored);
  if (/^\$(2[abxy]?|5|6|argon2\w*)\$/.test(stored)) {
    throw new TypeError(
      `${where}: this password hash type (${stored.split("$")[1]}) is not supported; ` +
        "use plain text, htpasswd -m (MD5, $apr1$) or htpasswd -s ({SHA})",
    );
  }
  return (p) => sameSecret(p, stored);
}

/** Parses `user:password` lines (htpasswd style; `#` comments and blank lines skipped). */
export function parseCredentialLines(text: string, source: string): Map<string, Verifier> {
  const out = new Map<string, Verifier>();
  text.split(/\r?\n/).forEach((line, i) => {
    const t = line.trim();
    if (t === "" || t.startsWith("#")) return;
    const colon = t.indexOf(":");
    const where = `${source} line ${i + 1}`;
    if (colon <= 0) throw new TypeError(`${where}: expected "user:password"`);
    out.set(t.slice(0, colon), verifierFor(t.slice(colon + 1), where));
  });
  return out;
}

/**
 * Builds the check from `proxy_auth.users` entries and the text of
 * `proxy_auth.file`; undefined when neither has an entry (no authentication).
 * Throws `TypeError` for a malformed entry.
 */
export function createCredentialCheck(
  users: readonly string[],
  file?: { path: string; text: string },
): CredentialCheck | undefined {
  const all = new Map<string, Verifier>();
  users.forEach((u, i) => {
    const colon = u.indexOf(":");
    if (colon <= 0) {
      throw new TypeError(`proxy_auth.users entry ${i + 1}: expected "user:password"`);
    }
    all.set(u.slice(0, colon), (p) => sameSecret(p, u.slice(colon + 1)));
  });
  if (file) { for (const [u, v] of parseCredentialLines(file.text, file.path)) all.set(u, v); }
  if (all.size === 0) return undefined;
  return (user, password) => {
    const v = all.get(user);
    // Unknown users still cost a comparison, so timing does not tell which names exist.
    if (!v) {
      sameSecret(password, "\0unknown-user");
      return false;
    }
    return v(password);
  };
}

/** `Proxy-Authorization: Basic …` → user and password, or undefined. */
export function parseBasicCredentials(
  value: string,
): { user: string; password: string } | undefined {
  const m = /^Basic[ \t]+([A-Za-z0-9+/=]+)[ \t]*$/i.exec(value);
  if (!m) return undefined;
  let text: string;
  try {
    const bin = atob(m[1]!);
    text = new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
  } catch {
    return undefined;
  }
  const colon = text.indexOf(":");
  if (colon < 0) return undefined;
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** The HTTP front's `authorize` hook: a valid `Proxy-Authorization: Basic` header. */
export function basicAuthorizer(check: CredentialCheck): (req: RequestHead) => boolean {
  return (req) => {
    for (const h of req.headers) {
      if (h.name !== "proxy-authorization") continue;
      const c = parseBasicCredentials(h.value);
      if (c && check(c.user, c.password)) return true;
    }
    return false;
  };
}

/** Whether a listen host is loopback only (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h) ||
    h === "::ffff:127.0.0.1";
}

/**
 * The check for `proxy_auth.users` and `proxy_auth.file` (read here), or
 * undefined when no credentials are configured. Throws `ConfigError`.
 */
export async function loadCredentials(
  o: { users: readonly string[]; file: string },
): Promise<CredentialCheck | undefined> {
  let file: { path: string; text: string } | undefined;
  if (o.file) {
    try {
      file = { path: o.file, text: await Deno.readTextFile(o.file) };
    } catch (e) {
      throw new ConfigError(`proxy_auth.file: cannot read ${o.file}: ${(e as Error).message}`);
    }
  }
  try {
    return createCredentialCheck(o.users, file);
  } catch (e) {
    throw new ConfigError(`proxy_auth: ${(e as Error).message}`);
  }
}
