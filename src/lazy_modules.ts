/**
 * Modules loaded with a computed `import()` specifier. Deno cannot see them
 * ahead of time, so a process holds only what its command uses (a literal
 * specifier makes Deno load the whole reachable graph up front: measured
 * +12 MB of RSS in an idle agent, and the AWS SDK in every server).
 * `deno compile` must be told about them with `--include` (scripts/compile.ts).
 */
export const LAZY_MODULES: readonly string[] = [
  "src/cli/local_cmd.ts",
  "src/cli/agent_cmd.ts",
  "src/cli/server_cmd.ts",
  "src/cli/certs_cmd.ts",
  "src/cli/control_plane_cmd.ts",
  "src/cli/deploy_cmd.ts",
  "src/server/cloudwatch_emitter.ts",
  "src/agent/ntlm.ts",
];

/** A specifier for `import()` that Deno does not resolve ahead of time. */
export function lazySpecifier(relative: string, base: string): string {
  return new URL(relative, base).href;
}

/** Data files read at run time that `deno compile` must embed (the deploy templates). */
export const EMBEDDED_FILES: readonly string[] = ["infra/fargate.yaml", "infra/lambda.yaml"];
