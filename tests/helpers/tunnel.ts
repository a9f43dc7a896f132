/** A real `fluidity server` + `fluidity agent` pair on loopback, with a throwaway PKI. */
import { makeTestPki, type TestPki, writeTestPki } from "../../src/certs/test_pki.ts";
import { type Proc, spawnFluidity } from "./procs.ts";

export interface Tunnel {
  dir: string;
  pki: TestPki;
  server: Proc;
  agent: Proc;
  /** `127.0.0.1:PORT` of the mTLS listener. */
  serverAddress: string;
  serverHealth: string;
  /** `http://127.0.0.1:PORT` of the agent's proxy. */
  proxyUrl: string;
  agentHealth: string;
  close(): Promise<void>;
}

export interface TunnelOptions {
  serverArgs?: string[];
  agentArgs?: string[];
  pki?: TestPki;
  env?: Record<string, string>;
  /** Environment for the agent only (merged over `env`). */
  agentEnv?: Record<string, string>;
  /** Pass --allow-private-targets to the server (default true: origins are on loopback). */
  allowPrivateTargets?: boolean;
  /** Connect the agent to this address instead of the server's (e.g. a relay). */
  serverVia?: (serverAddress: string) => Promise<string>;
}

/** Starts a PKI, a server (private targets allowed) and an agent pointed at it. */
export async function startTunnel(o: TunnelOptions = {}): Promise<Tunnel> {
  const dir = await Deno.makeTempDir({ prefix: "fluidity-e2e-" });
  const pki = o.pki ?? await makeTestPki();
  await writeTestPki(pki, dir);
  const server = spawnFluidity([
    "server",
    "--listen",
    "127.0.0.1:0",
    "--health-listen",
    "127.0.0.1:0",
    "--cert",
    `${dir}/server.crt`,
    "--key",
    `${dir}/server.key`,
    "--ca",
    `${dir}/ca.crt`,
    ...(o.allowPrivateTargets === false ? [] : ["--allow-private-targets"]),
    ...(o.serverArgs ?? []),
  ], { env: o.env });
  const sm = await server.waitFor(/listening on (\S+) \(health http:\/\/(\S+)\)/, 30_000, "stdout");
  const target = o.serverVia ? await o.serverVia(sm[1]!) : sm[1]!;
  const agent = spawnFluidity([
    "agent",
    "--listen",
    "127.0.0.1:0",
    "--health-listen",
    "127.0.0.1:0",
    "--server",
    target,
    "--cert",
    `${dir}/agent.crt`,
    "--key",
    `${dir}/agent.key`,
    "--ca",
    `${dir}/ca.crt`,
    ...(o.agentArgs ?? []),
  ], { env: { ...o.env, ...o.agentEnv } });
  const am = await agent.waitFor(
    /proxy listening on (\S+) \(health http:\/\/(\S+)\)/,
    30_000,
    "stdout",
  );
  await agent.waitFor(/tunnel up/, 30_000, "stderr");
  return {
    dir,
    pki,
    server,
    agent,
    serverAddress: sm[1]!,
    serverHealth: sm[2]!,
    proxyUrl: `http://${am[1]}`,
    agentHealth: am[2]!,
    async close() {
      await Promise.all([agent.stop(), server.stop()]);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
