/**
 * `deno task layer`: builds the Lambda artifacts into `dist/`.
 *
 * - `dist/layer.zip`: the Deno custom runtime layer, unpacked by Lambda to `/opt`:
 *   `bootstrap` (0755), `bin/deno` (0755, the Linux x64 binary from the npm
 *   package `@deno/linux-x64-glibc`), `runtime.js` (the bundled Runtime API loop).
 * - `dist/<fn>.zip` for wake, query, kill, sleep: `<fn>.js`, a self-contained
 *   `deno bundle --platform deno` of `lambdas/<fn>.ts` (handler `<fn>.handler`).
 * - `dist/SHA256SUMS`.
 *
 * Zips are reproducible: entries sorted, fixed timestamps (1980-01-01), fixed
 * permissions and compression, so the same inputs give the same bytes.
 *
 * ```sh
 * deno task layer                          # everything (runs `npm pack` for the deno binary)
 * deno task layer --deno-binary ./deno     # use a Linux x64 deno binary you already have
 * deno task bundle                         # function zips only (no deno binary needed)
 * ```
 */
import { gunzipSync, type ZipOptions, zipSync } from "fflate";

/** The functions deployed by `infra/lambda.yaml`, one zip each. */
export const FUNCTIONS = ["wake", "query", "kill", "sleep"] as const;
/** Deno version inside the layer: the one this repository is built and tested with. */
export const LAYER_DENO_VERSION = "2.9.6";
const DENO_PACKAGE = "@deno/linux-x64-glibc";

const ROOT = new URL("../", import.meta.url);

/** One file in a zip. */
export interface ZipEntry {
  /** Path inside the archive, `/`-separated. */
  name: string;
  data: Uint8Array;
  /** Unix permission bits. Default 0o644. */
  mode?: number;
}

// Local-time fields: fflate writes DOS times from local getters, so this is
// 1980-01-01 00:00 in the archive whatever the machine's time zone.
const FIXED_MTIME = new Date(1980, 0, 1, 0, 0, 0);

/** Deterministic zip: entries sorted by name, fixed mtime, unix modes, deflate level 9. */
export function makeZip(entries: readonly ZipEntry[]): Uint8Array {
  const sorted = [...entries].sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const files: Record<string, [Uint8Array, ZipOptions & { os: number; attrs: number }]> = {};
  for (const e of sorted) {
    if (files[e.name]) throw new RangeError(`Duplicate zip entry "${e.name}"`);
    const mode = e.mode ?? 0o644;
    files[e.name] = [e.data, {
      level: 9,
      mtime: FIXED_MTIME,
      os: 3, // unix: Lambda applies the mode bits (bootstrap must be executable)
      attrs: ((0o100000 | mode) << 16) >>> 0,
    }];
  }
  return zipSync(files);
}

/** Reads one regular file out of a `.tgz` (ustar; what `npm pack` writes). */
export function extractFromTgz(tgz: Uint8Array, path: string): Uint8Array {
  const tar = gunzipSync(tgz);
  const dec = new TextDecoder();
  const field = (off: number, len: number) =>
    dec.decode(tar.subarray(off, off + len)).replace(/\0.*$/s, "");
  let off = 0;
  while (off + 512 <= tar.length) {
    const name = field(off, 100);
    if (name === "") break;
    const prefix = field(off + 345, 155);
    const full = prefix ? `${prefix}/${name}` : name;
    const size = parseInt(field(off + 124, 12).trim() || "0", 8);
    const type = field(off + 156, 1) || "0";
    if (full === path && type === "0") return tar.slice(off + 512, off + 512 + size);
    off += 512 + Math.ceil(size / 512) * 512;
  }
  throw new Error(`${path} not found in the package archive`);
}

export interface BundleOptions {
  /** Deno executable that runs `deno bundle`. Default `Deno.execPath()`. */
  deno?: string;
  /** Minify the bundles. Default false (readable stack traces in CloudWatch). */
  minify?: boolean;
}

/** `deno bundle --platform deno <entry>` → the bundled JavaScript. */
export async function bundle(entry: string, options: BundleOptions = {}): Promise<Uint8Array> {
  const tmp = await Deno.makeTempDir({ prefix: "fluidity-bundle-" });
  try {
    const out = `${tmp}/out.js`;
    const args = ["bundle", "--quiet", "--platform", "deno", "--output", out];
    if (options.minify) args.push("--minify");
    // Run from the repository root so the bundle's path comments are the same everywhere.
    const res = await new Deno.Command(options.deno ?? Deno.execPath(), {
      args: [...args, entry],
      cwd: ROOT,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!res.success) {
      throw new Error(`deno bundle ${entry} failed: ${new TextDecoder().decode(res.stderr)}`);
    }
    return await Deno.readFile(out);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/** The zip of one function: `<fn>.js` at the root, for handler `<fn>.handler`. */
export async function buildFunctionZip(
  fn: typeof FUNCTIONS[number],
  options: BundleOptions = {},
): Promise<Uint8Array> {
  const js = await bundle(`lambdas/${fn}.ts`, options);
  return makeZip([{ name: `${fn}.js`, data: js }]);
}

/** The layer zip around a Linux x64 deno binary. */
export async function buildLayerZip(
  denoBinary: Uint8Array,
  options: BundleOptions = {},
): Promise<Uint8Array> {
  const bootstrap = await Deno.readFile(new URL("lambdas/bootstrap", ROOT));
  const runtime = await bundle("lambdas/runtime_main.ts", options);
  return makeZip([
    { name: "bootstrap", data: bootstrap, mode: 0o755 },
    { name: "bin/deno", data: denoBinary, mode: 0o755 },
    { name: "runtime.js", data: runtime },
  ]);
}

/** Fetches the Linux x64 deno binary with `npm pack` (the npm registry, as configured). */
export async function fetchDenoBinary(version = LAYER_DENO_VERSION): Promise<Uint8Array> {
  const tmp = await Deno.makeTempDir({ prefix: "fluidity-deno-pkg-" });
  try {
    const res = await new Deno.Command("npm", {
      args: ["pack", `${DENO_PACKAGE}@${version}`, "--json", "--pack-destination", tmp],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!res.success) {
      throw new Error(
        `npm pack ${DENO_PACKAGE}@${version} failed: ${new TextDecoder().decode(res.stderr)}`,
      );
    }
    const [info] = JSON.parse(new TextDecoder().decode(res.stdout)) as Array<{ filename: string }>;
    if (!info) throw new Error(`npm pack ${DENO_PACKAGE}@${version} reported no file`);
    return extractFromTgz(await Deno.readFile(`${tmp}/${info.filename}`), "package/deno");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/** Lowercase hex SHA-256. */
export async function sha256(data: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

export interface BuildOptions extends BundleOptions {
  /** Output directory. Default `dist`. */
  outDir?: string;
  /** Skip the layer (no deno binary needed). */
  functionsOnly?: boolean;
  /** Path of a Linux x64 deno binary; default: `npm pack @deno/linux-x64-glibc`. */
  denoBinary?: string;
  log?: (line: string) => void;
}

/** Builds every artifact; returns file name → SHA-256. */
export async function buildAll(options: BuildOptions = {}): Promise<Record<string, string>> {
  const outDir = options.outDir ?? "dist";
  const log = options.log ?? console.log;
  await Deno.mkdir(outDir, { recursive: true });
  const sums: Record<string, string> = {};
  const write = async (name: string, data: Uint8Array) => {
    await Deno.writeFile(`${outDir}/${name}`, data);
    sums[name] = await sha256(data);
    log(`${outDir}/${name}  ${(data.length / 1e6).toFixed(2)} MB  sha256 ${sums[name]}`);
  };
  for (const fn of FUNCTIONS) await write(`${fn}.zip`, await buildFunctionZip(fn, options));
  if (!options.functionsOnly) {
    const deno = options.denoBinary
      ? await Deno.readFile(options.denoBinary)
      : await fetchDenoBinary();
    await write("layer.zip", await buildLayerZip(deno, options));
  }
  const lines = Object.keys(sums).sort().map((n) => `${sums[n]}  ${n}\n`);
  await Deno.writeTextFile(`${outDir}/SHA256SUMS`, lines.join(""));
  return sums;
}

function parseArgs(args: string[]): BuildOptions {
  const opts: BuildOptions = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = () => {
      const v = args[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === "--functions-only") opts.functionsOnly = true;
    else if (a === "--minify") opts.minify = true;
    else if (a === "--out") opts.outDir = value();
    else if (a === "--deno-binary") opts.denoBinary = value();
    else {throw new Error(
        `unknown option ${a} (known: --out DIR, --deno-binary PATH, ` +
          `--functions-only, --minify)`,
      );}
  }
  return opts;
}

if (import.meta.main) {
  try {
    await buildAll(parseArgs(Deno.args));
  } catch (err) {
    console.error(`layer: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
