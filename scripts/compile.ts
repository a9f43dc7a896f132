/**
 * `deno task compile`: self-contained `fluidity` executables in `dist/`, one
 * per release target.
 *
 * ```sh
 * deno task compile                                     # every target
 * deno task compile --target x86_64-unknown-linux-gnu   # one target
 * ```
 *
 * `deno compile` downloads the `denort` base runtime for each target from the
 * internet; the release workflow (.github/workflows/release.yml) runs it where
 * that works.
 */
import { RUNTIME_FLAGS } from "../src/runtime_flags.ts";
import { EMBEDDED_FILES, LAZY_MODULES } from "../src/lazy_modules.ts";

/** The release targets, as `deno compile --target` names them. */
export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
] as const;

export type Target = typeof TARGETS[number];

/** `dist/fluidity-<target>` (`deno compile` adds `.exe` for Windows). */
export function outputPath(target: Target): string {
  return `dist/fluidity-${target}`;
}

/** The `deno` arguments that build one target. */
export function compileArgs(target: Target): string[] {
  // The runtime flags are baked into the binary (see src/runtime_flags.ts).
  return [
    "compile",
    "-A",
    ...RUNTIME_FLAGS,
    ...[...LAZY_MODULES, ...EMBEDDED_FILES].flatMap((m) => ["--include", m]),
    "--target",
    target,
    "--output",
    outputPath(target),
    "main.ts",
  ];
}

/** Targets selected by the command line; throws a `TypeError` on anything else. */
export function parseTargets(args: string[]): Target[] {
  const chosen: Target[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    let value: string | undefined;
    if (a === "--target") value = args[++i];
    else if (a.startsWith("--target=")) value = a.slice("--target=".length);
    else throw new TypeError(`unknown argument ${JSON.stringify(a)}`);
    if (value === undefined || !(TARGETS as readonly string[]).includes(value)) {
      throw new TypeError(
        `--target must be one of ${TARGETS.join(", ")}, got ${JSON.stringify(value ?? "")}`,
      );
    }
    if (!chosen.includes(value as Target)) chosen.push(value as Target);
  }
  return chosen.length > 0 ? chosen : [...TARGETS];
}

const USAGE = `Usage: deno task compile [--target TARGET]...

Builds dist/fluidity-TARGET for each target (default: all of them):
  ${TARGETS.join("\n  ")}`;

const OFFLINE_HINT = [
  "deno compile must download the denort base runtime for each target from the internet",
  "(dl.deno.land); it cannot work offline or behind a firewall that blocks it.",
  "The release workflow (.github/workflows/release.yml) builds every target on GitHub Actions.",
].join("\n");

async function main(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(USAGE);
    return 0;
  }
  let targets: Target[];
  try {
    targets = parseTargets(args);
  } catch (e) {
    console.error(`compile: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const root = new URL("../", import.meta.url);
  for (const target of targets) {
    const args = compileArgs(target);
    console.log(`== deno ${args.join(" ")}`);
    let ok = false;
    try {
      const status = await new Deno.Command(Deno.execPath(), {
        args,
        cwd: root,
        stdout: "inherit",
        stderr: "inherit",
      }).spawn().status;
      ok = status.success;
    } catch (e) {
      console.error(`compile: cannot run deno: ${(e as Error).message}`);
    }
    if (!ok) {
      console.error(`\ncompile: building ${target} failed.\n${OFFLINE_HINT}`);
      return 1;
    }
  }
  console.log(`built ${targets.map(outputPath).join(", ")}`);
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
