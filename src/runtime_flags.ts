/**
 * Deno runtime flags every `fluidity` process runs with: `deno task` entries,
 * `deno compile` (baked into the binaries), child processes started by the
 * local provider, and the end-to-end tests.
 *
 * A 2 MiB young-generation semi-space keeps the proxy's RSS flat under many
 * connections and bulk transfers: V8's default lets it grow to 3 × 16 MiB of
 * short-lived buffers (measured: agent RSS after 64-connection load 156 MB →
 * 108 MB, with the same request rate). `--expose-gc` lets the link transport
 * run a minor collection every 8 MiB moved (see socket_transport.ts).
 */
export const RUNTIME_FLAGS: readonly string[] = ["--v8-flags=--max-semi-space-size=2,--expose-gc"];
