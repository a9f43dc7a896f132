/**
 * Certificates on disk: atomic writes (temporary file in the same directory,
 * then rename; private keys mode 0600), refusal to overwrite without `force`,
 * reading the CA back, and {@linkcode ensureLocalPki} for `fluidity local`.
 *
 * On Windows file modes are not applied (best effort): protect the directory
 * with its ACL instead.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { ConfigError } from "../errors.ts";
import {
  checkCaPair,
  createCA,
  issueCert,
  type IssueOptions,
  type KeyType,
  type PemPair,
} from "./ca.ts";

/** One file to write. */
export interface OutputFile {
  path: string;
  text: string;
  /** Private key: mode 0600 (certificates get 0644). */
  secret?: boolean;
}

export interface WriteOptions {
  /** Replace existing files. Default false: any existing target aborts the whole write. */
  force?: boolean;
}

const isWindows = Deno.build.os === "windows";

function why(e: unknown): string {
  if (e instanceof Deno.errors.NotFound) return "no such file or directory";
  if (e instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (e instanceof Deno.errors.NotADirectory) return "not a directory";
  if (e instanceof Deno.errors.IsADirectory) return "is a directory";
  if (e instanceof Deno.errors.AlreadyExists) return "already exists";
  return (e as Error).message.split("\n")[0]!;
}

function q(path: string): string {
  return JSON.stringify(path);
}

function dirOf(path: string): string {
  const i = Math.max(path.lastIndexOf("/"), isWindows ? path.lastIndexOf("\\") : -1);
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}

function baseOf(path: string): string {
  const i = Math.max(path.lastIndexOf("/"), isWindows ? path.lastIndexOf("\\") : -1);
  return path.slice(i + 1);
}

/** Joins a directory and a file name. */
export function joinPath(dir: string, name: string): string {
  return dir.endsWith("/") || (isWindows && dir.endsWith("\\"))
    ? `${dir}${name}`
    : `${dir}/${name}`;
}

/** Whether `path` exists; any error other than not-found is a {@linkcode ConfigError}. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw new ConfigError(`cannot access ${q(path)}: ${why(e)}`);
  }
}

/**
 * Creates `dir` (mode 0700) when missing. Returns true when it created it, so
 * a failed operation can remove it again. Throws {@linkcode ConfigError} when
 * `dir` exists but is not a directory or cannot be created.
 */
export async function ensureDir(dir: string): Promise<boolean> {
  try {
    const st = await Deno.stat(dir);
    if (!st.isDirectory) throw new ConfigError(`${q(dir)} is not a directory`);
    return false;
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new ConfigError(`cannot use directory ${q(dir)}: ${why(e)}`);
    }
  }
  try {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new ConfigError(`cannot create directory ${q(dir)}: ${why(e)}`);
  }
  return true;
}

/**
 * Throws {@linkcode ConfigError} listing the `paths` that exist, unless
 * `force` is set.
 */
export async function refuseExisting(
  paths: readonly string[],
  options: WriteOptions = {},
): Promise<void> {
  if (options.force) return;
  const existing: string[] = [];
  for (const path of paths) if (await exists(path)) existing.push(path);
  if (existing.length > 0) {
    throw new ConfigError(
      `refusing to overwrite ${existing.map(q).join(" and ")}: ` +
        `${existing.length > 1 ? "they exist" : "it exists"} (use --force to replace)`,
    );
  }
}

/**
 * Writes all `files` or none: every target is checked first (existing ones
 * abort without `force`), each is written to a temporary file beside it and
 * only then renamed into place, keys before certificates. Temporary files are
 * removed on failure. Throws {@linkcode ConfigError} naming the path.
 */
export async function writeFilesAtomic(
  files: readonly OutputFile[],
  options: WriteOptions = {},
): Promise<void> {
  await refuseExisting(files.map((f) => f.path), options);
  const ordered = [...files].sort((a, b) => Number(!!b.secret) - Number(!!a.secret));
  const temps: Array<{ temp: string; file: OutputFile }> = [];
  try {
    for (const file of ordered) {
      const suffix = crypto.getRandomValues(new Uint32Array(2)).join("");
      const temp = joinPath(dirOf(file.path), `.${baseOf(file.path)}.${suffix}.tmp`);
      const mode = file.secret ? 0o600 : 0o644;
      try {
        await Deno.writeTextFile(temp, file.text, { createNew: true, mode });
        temps.push({ temp, file });
        if (!isWindows) await Deno.chmod(temp, mode);
      } catch (e) {
        throw new ConfigError(`cannot write ${q(file.path)}: ${why(e)}`);
      }
    }
    for (const t of temps) {
      try {
        await Deno.rename(t.temp, t.file.path);
        t.temp = "";
      } catch (e) {
        throw new ConfigError(`cannot write ${q(t.file.path)}: ${why(e)}`);
      }
    }
  } finally {
    for (const t of temps) {
      if (t.temp) await Deno.remove(t.temp).catch(() => {});
    }
  }
}

/** The standard file names in a certs directory. */
export function certPaths(dir: string, base: string): { cert: string; key: string } {
  return { cert: joinPath(dir, `${base}.crt`), key: joinPath(dir, `${base}.key`) };
}

async function readText(path: string, what: string, dir: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new ConfigError(
        `no CA in ${q(dir)}: ${q(path)} not found (run 'fluidity certs init --dir ${dir}' first)`,
      );
    }
    throw new ConfigError(`cannot read ${what} ${q(path)}: ${why(e)}`);
  }
}

/**
 * Reads `ca.crt` and `ca.key` from `dir` and checks they are a CA and its key.
 * Throws {@linkcode ConfigError} naming the files.
 */
export async function readCa(dir: string): Promise<PemPair> {
  const p = certPaths(dir, "ca");
  const certPem = await readText(p.cert, "CA certificate", dir);
  const keyPem = await readText(p.key, "CA key", dir);
  try {
    await checkCaPair({ certPem, keyPem });
  } catch (e) {
    throw new ConfigError(
      `${q(p.cert)} / ${q(p.key)}: ${(e as Error).message.split("\n")[0]}`,
      { cause: e },
    );
  }
  return { certPem, keyPem };
}

/** Removes a directory this operation created, if it is still empty. */
async function removeIfCreated(dir: string, created: boolean): Promise<void> {
  if (created) await Deno.remove(dir).catch(() => {});
}

export interface InitCaOptions extends WriteOptions {
  keyType?: KeyType;
  /** Default 3650. */
  days?: number;
  /** CN. Default "Fluidity CA". */
  name?: string;
}

/** Creates a CA and writes `ca.crt` and `ca.key` (0600) into `dir`. */
export async function writeNewCa(
  dir: string,
  options: InitCaOptions = {},
): Promise<{ pair: PemPair; certPath: string; keyPath: string }> {
  const p = certPaths(dir, "ca");
  const created = await ensureDir(dir);
  try {
    // Check before the (possibly slow) key generation; the write checks again.
    await refuseExisting([p.cert, p.key], options);
    const pair = await createCA({
      keyType: options.keyType,
      days: options.days,
      name: options.name,
    });
    await writeFilesAtomic([
      { path: p.cert, text: pair.certPem },
      { path: p.key, text: pair.keyPem, secret: true },
    ], options);
    return { pair, certPath: p.cert, keyPath: p.key };
  } catch (e) {
    await removeIfCreated(dir, created);
    throw e;
  }
}

export interface WriteIssuedOptions extends IssueOptions, WriteOptions {
  /** File name without extension. Default: `server` for a server, the name for an agent. */
  fileBase?: string;
}

/** File names an agent certificate must not take over. */
const RESERVED_BASES = new Set(["ca", "server"]);

/** Issues a certificate from the CA in `dir` and writes `<base>.crt` and `<base>.key` (0600). */
export async function writeIssued(
  dir: string,
  options: WriteIssuedOptions,
): Promise<{ pair: PemPair; certPath: string; keyPath: string }> {
  const base = options.fileBase ?? (options.kind === "server" ? "server" : options.name);
  if (options.kind === "agent" && RESERVED_BASES.has(base.toLowerCase())) {
    throw new ConfigError(
      `agent name ${q(base)} would clash with ${base}.crt/${base}.key; choose another --name`,
    );
  }
  const p = certPaths(dir, base);
  const ca = await readCa(dir);
  await refuseExisting([p.cert, p.key], options);
  let pair: PemPair;
  try {
    pair = await issueCert(ca, options);
  } catch (e) {
    throw new ConfigError((e as Error).message, { cause: e });
  }
  await writeFilesAtomic([
    { path: p.cert, text: pair.certPem },
    { path: p.key, text: pair.keyPem, secret: true },
  ], options);
  return { pair, certPath: p.cert, keyPath: p.key };
}

/** Names `ensureLocalPki` gives the local server certificate. */
export const LOCAL_SERVER = {
  name: "fluidity-server",
  dns: ["localhost"],
  ips: ["127.0.0.1"],
} as const;

/**
 * Makes sure `dir` holds a CA (`ca.crt`, `ca.key`), a server certificate
 * (`server.crt`/`.key`: fluidity-server, SAN localhost and 127.0.0.1) and an
 * agent certificate (`agent.crt`/`.key`), creating whatever is missing and
 * never overwriting anything. Existing certificates must be signed by
 * `ca.crt`. Throws {@linkcode ConfigError} when the directory cannot be used.
 *
 * @example
 * ```ts
 * const { created } = await ensureLocalPki("certs", (line) => console.error(line));
 * ```
 */
export async function ensureLocalPki(
  dir: string,
  log: (line: string) => void = () => {},
): Promise<{ created: boolean }> {
  const ca = certPaths(dir, "ca");
  const server = certPaths(dir, "server");
  const agent = certPaths(dir, "agent");
  const have = async (p: { cert: string; key: string }) =>
    (await exists(p.cert)) && (await exists(p.key));
  // A lone certificate or key is never replaced: the user decides what to keep.
  const needServer = !(await have(server));
  const needAgent = !(await have(agent));
  for (const p of [ca, server, agent]) {
    const [c, k] = [await exists(p.cert), await exists(p.key)];
    if (c !== k) {
      const [present, missing] = c ? [p.cert, p.key] : [p.key, p.cert];
      throw new ConfigError(
        `${q(present)} exists without ${q(missing)}; remove it to have a new pair made`,
      );
    }
  }
  let created = false;
  if (!(await exists(ca.cert))) {
    if (!needServer || !needAgent) {
      throw new ConfigError(
        `${
          q(dir)
        } holds certificates but no ca.crt; move them away or run 'fluidity certs init --dir ${dir}'`,
      );
    }
    await writeNewCa(dir);
    log(`created a private CA: ${ca.cert}, ${ca.key}`);
    created = true;
  }
  if (needServer) {
    await writeIssued(dir, {
      kind: "server",
      name: LOCAL_SERVER.name,
      dns: [...LOCAL_SERVER.dns],
      ips: [...LOCAL_SERVER.ips],
    });
    log(`issued the server certificate: ${server.cert}, ${server.key}`);
    created = true;
  }
  if (needAgent) {
    await writeIssued(dir, { kind: "agent", name: "agent" });
    log(`issued the agent certificate: ${agent.cert}, ${agent.key}`);
    created = true;
  }
  if (!created) await checkSignedBy(dir, [server.cert, agent.cert]);
  return { created };
}

/** Checks each certificate file was signed by `dir/ca.crt`. */
async function checkSignedBy(dir: string, paths: string[]): Promise<void> {
  const caPath = joinPath(dir, "ca.crt");
  let caCert: x509.X509Certificate;
  try {
    caCert = new x509.X509Certificate(await Deno.readTextFile(caPath));
  } catch (e) {
    throw new ConfigError(`cannot use CA certificate ${q(caPath)}: ${why(e)}`);
  }
  for (const path of paths) {
    let ok = false;
    try {
      const cert = new x509.X509Certificate(await Deno.readTextFile(path));
      ok = await cert.verify({ publicKey: caCert.publicKey, signatureOnly: true });
    } catch {
      ok = false;
    }
    if (!ok) {
      throw new ConfigError(
        `${q(path)} is not a certificate signed by ${
          q(caPath)
        }; remove it to have a new one issued`,
      );
    }
  }
}
