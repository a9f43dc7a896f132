/**
 * Throwaway PKIs for tests, minted at test time (no keys are committed).
 * Nothing is cached: every call generates fresh keys (ECDSA P-256, fast).
 *
 * @example
 * ```ts
 * const pki = await makeTestPki();
 * const dir = await writeTestPki(pki, await Deno.makeTempDir());
 * ```
 */
import { createCA, issueCert, type PemPair } from "./ca.ts";

export interface TestPki {
  /** The private CA. */
  ca: PemPair;
  /** CN and DNS SAN `fluidity-server`, also `localhost` and IP 127.0.0.1; serverAuth. */
  server: PemPair;
  /** CN `agent`, clientAuth. */
  agent: PemPair;
  /** A second, unrelated CA. */
  otherCa: PemPair;
  /** CN `agent` from `otherCa`, clientAuth. */
  otherAgent: PemPair;
  /** `fluidity-server` (+ localhost, 127.0.0.1) from `otherCa`, serverAuth. */
  otherServer: PemPair;
  /** CN `expired-agent` from `ca`, clientAuth, expired yesterday. */
  expiredAgent: PemPair;
  /** CN `server-auth-only` from `ca` with only the serverAuth EKU (wrong for a client). */
  serverAuthOnlyAgent: PemPair;
}

const DAY_MS = 86_400_000;

/** Mints a {@linkcode TestPki}. */
export async function makeTestPki(): Promise<TestPki> {
  const [ca, otherCa] = await Promise.all([
    createCA({ name: "Fluidity Test CA" }),
    createCA({ name: "Other Test CA" }),
  ]);
  const serverNames = { dns: ["localhost"], ips: ["127.0.0.1"] };
  const now = Date.now();
  const [server, agent, otherAgent, otherServer, expiredAgent, serverAuthOnlyAgent] = await Promise
    .all([
      issueCert(ca, { kind: "server", name: "fluidity-server", ...serverNames }),
      issueCert(ca, { kind: "agent", name: "agent" }),
      issueCert(otherCa, { kind: "agent", name: "agent" }),
      issueCert(otherCa, { kind: "server", name: "fluidity-server", ...serverNames }),
      issueCert(ca, {
        kind: "agent",
        name: "expired-agent",
        notBefore: new Date(now - 30 * DAY_MS),
        notAfter: new Date(now - DAY_MS),
      }),
      issueCert(ca, { kind: "agent", name: "server-auth-only", ekus: ["serverAuth"] }),
    ]);
  return {
    ca,
    server,
    agent,
    otherCa,
    otherAgent,
    otherServer,
    expiredAgent,
    serverAuthOnlyAgent,
  };
}

/**
 * Writes `ca.crt`, `server.crt`, `server.key`, `agent.crt` and `agent.key`
 * into `dir` (created if missing; keys mode 0600) and returns `dir`.
 */
export async function writeTestPki(pki: TestPki, dir: string): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const files: Array<[string, string, number]> = [
    ["ca.crt", pki.ca.certPem, 0o644],
    ["server.crt", pki.server.certPem, 0o644],
    ["server.key", pki.server.keyPem, 0o600],
    ["agent.crt", pki.agent.certPem, 0o644],
    ["agent.key", pki.agent.keyPem, 0o600],
  ];
  for (const [name, text, mode] of files) {
    const path = `${dir}/${name}`;
    await Deno.writeTextFile(path, text, { mode });
    if (Deno.build.os !== "windows") await Deno.chmod(path, mode);
  }
  return dir;
}
