/**
 * End-to-end: the on-demand lifecycle with real processes — `fluidity local`,
 * `fluidity control-plane --provider local` waking real `fluidity server`
 * children, and `fluidity agent` discovering, reconnecting and rediscovering.
 */
import assert from "node:assert/strict";
import { makeTestPki, writeTestPki } from "../src/certs/test_pki.ts";
import { type Proc, spawnFluidity } from "./helpers/procs.ts";
import { type Origin, rawExchange, startHttpOrigin } from "./helpers/origins.ts";

/** Direct children of a process, from /proc. */
function childPids(pid: number): number[] {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/task/${pid}/children`).trim().split(/\s+/).filter(
      Boolean,
    )
      .map(Number);
  } catch {
    return [];
  }
}

function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) Z/.test(stat); // a zombie is gone for our purposes
  } catch {
    return false;
  }
}

async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function get(proxyUrl: string, origin: Origin): Promise<string> {
  return await rawExchange(
    proxyUrl,
    `GET ${origin.url}/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
    { timeoutMs: 20_000 },
  );
}

async function pkiDir(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "fluidity-life-" });
  await writeTestPki(await makeTestPki(), dir);
  return dir;
}

async function startControlPlane(
  dir: string,
  apiKey: string,
): Promise<{ proc: Proc; url: string }> {
  const proc = spawnFluidity([
    "control-plane",
    "--provider",
    "local",
    "--listen",
    "127.0.0.1:0",
    "--api-key",
    apiKey,
    "--certs-dir",
    dir,
  ]);
  const m = await proc.waitFor(/listening on (http:\/\/\S+)/, 30_000, "stdout");
  return { proc, url: m[1]! };
}

function agentArgs(dir: string, url: string, apiKey: string): string[] {
  return [
    "agent",
    "--listen",
    "127.0.0.1:0",
    "--lifecycle-url",
    url,
    "--api-key",
    apiKey,
    "--cert",
    `${dir}/agent.crt`,
    "--key",
    `${dir}/agent.key`,
    "--ca",
    `${dir}/ca.crt`,
  ];
}

Deno.test("e2e lifecycle: fluidity local serves requests and leaves no server child after SIGTERM", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fluidity-local-" });
  const origin = await startHttpOrigin();
  const local = spawnFluidity(["local", "--listen", "127.0.0.1:0", "--certs-dir", `${dir}/certs`], {
    cwd: dir,
  });
  try {
    const t0 = performance.now();
    const m = await local.waitFor(/proxy listening on (\S+)/, 60_000, "stdout");
    const res = await get(`http://${m[1]}`, origin);
    const firstByteMs = performance.now() - t0;
    assert.match(res, /^HTTP\/1\.1 200 /);
    console.log(`local: start to first proxied response ${firstByteMs.toFixed(0)} ms`);
    const children = childPids(local.pid);
    assert.equal(children.length, 1, "one server child while running");
    const status = await local.stop("SIGTERM");
    assert.equal(status.code, 0, local.stderr.slice(-10).join("\n"));
    await waitUntil(() => !alive(children[0]!), 10_000, "the server child to exit");
    assert.ok(local.stderr.some((l) => /server killed/.test(l)), "the agent called kill");
  } finally {
    await local.stop("SIGKILL");
    await origin.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("e2e lifecycle: server killed → 3 failed reconnects → rediscovery on a new port", async () => {
  const dir = await pkiDir();
  const apiKey = "test-key-" + crypto.randomUUID();
  const origin = await startHttpOrigin();
  const cp = await startControlPlane(dir, apiKey);
  const agent = spawnFluidity(agentArgs(dir, cp.url, apiKey));
  try {
    const m = await agent.waitFor(/proxy listening on (\S+)/, 30_000, "stdout");
    const proxy = `http://${m[1]}`;
    const up1 = await agent.waitFor(/tunnel up server=127\.0\.0\.1:(\d+)/, 60_000, "stderr");
    assert.match(await get(proxy, origin), /^HTTP\/1\.1 200 /);

    const [child] = childPids(cp.proc.pid);
    assert.ok(child, "control plane has a server child");
    const killedAt = performance.now();
    Deno.kill(child!, "SIGKILL");
    await agent.waitFor(/rediscovering the server/, 60_000, "stderr");
    const up2 = await agent.waitFor(
      new RegExp(`tunnel up server=127\\.0\\.0\\.1:(?!${up1[1]}\\b)(\\d+)`),
      60_000,
      "stderr",
    );
    assert.notEqual(up2[1], up1[1], "a new port");
    await waitUntil(
      async () => /^HTTP\/1\.1 200 /.test(await get(proxy, origin)),
      30_000,
      "a request to succeed",
    );
    const recoveryMs = performance.now() - killedAt;
    console.log(`rediscovery: server kill to first successful request ${recoveryMs.toFixed(0)} ms`);
    const fails = agent.stderr.filter((l) => /cannot connect to the server/.test(l)).length;
    assert.ok(fails >= 3, `at least 3 failed reconnects before rediscovery (saw ${fails})`);
    assert.equal(agent.stderr.some((l) => l.includes(apiKey)), false, "API key never logged");
  } finally {
    await agent.stop();
    await cp.proc.stop();
    await origin.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("e2e lifecycle: agent SIGTERM calls kill and the server child goes away", async () => {
  const dir = await pkiDir();
  const apiKey = "k-" + crypto.randomUUID();
  const cp = await startControlPlane(dir, apiKey);
  const agent = spawnFluidity(agentArgs(dir, cp.url, apiKey));
  try {
    await agent.waitFor(/tunnel up/, 60_000, "stderr");
    const [child] = childPids(cp.proc.pid);
    assert.ok(child);
    const status = await agent.stop("SIGTERM");
    assert.equal(status.code, 0);
    assert.ok(agent.stderr.some((l) => /server killed/.test(l)));
    await waitUntil(() => !alive(child!), 15_000, "the server child to exit");
    const q = await fetch(`${cp.url}/query`, { method: "POST", headers: { "x-api-key": apiKey } });
    assert.equal((await q.json()).status, "stopped");
  } finally {
    await agent.stop();
    await cp.proc.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("e2e lifecycle: a wrong API key stops the agent with exit 2 naming the key setting", async () => {
  const dir = await pkiDir();
  const cp = await startControlPlane(dir, "right-key");
  const agent = spawnFluidity(agentArgs(dir, cp.url, "wrong-key"));
  try {
    const status = await agent.status;
    assert.equal(status.code, 2);
    const err = agent.stderr.join("\n");
    assert.match(err, /api.key/i);
    assert.match(err, /403/);
    assert.equal(err.includes("wrong-key"), false, "the key itself is not printed");
    assert.equal(childPids(cp.proc.pid).length, 0, "no server was started");
  } finally {
    await agent.stop();
    await cp.proc.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("e2e lifecycle: a server that never starts → wake timeout, kill, exit 1", async () => {
  const dir = await pkiDir();
  const calls: string[] = [];
  const api = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    calls.push(path);
    if (path === "/wake") {
      return Response.json({ status: "waking", desiredCount: 1, runningCount: 0 });
    }
    if (path === "/query") return Response.json({ status: "starting", publicIp: null, port: 8443 });
    return Response.json({ status: "killed", desiredCount: 0 });
  });
  const url = `http://127.0.0.1:${api.addr.port}`;
  const agent = spawnFluidity(agentArgs(dir, url, "k"), {
    env: { FLUIDITY_LIFECYCLE_WAKE_TIMEOUT: "2s" },
  });
  try {
    const status = await agent.status;
    assert.equal(status.code, 1);
    assert.match(agent.stderr.join("\n"), /no running server after 2s/);
    assert.ok(
      calls.includes("/wake") && calls.includes("/query") && calls.at(-1) === "/kill",
      calls.join(","),
    );
  } finally {
    await agent.stop();
    await api.shutdown();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("e2e lifecycle: a server child outlives no SIGKILLed parent (it exits when its stdin closes)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fluidity-orphan-" });
  const local = spawnFluidity(["local", "--listen", "127.0.0.1:0", "--certs-dir", `${dir}/certs`], {
    cwd: dir,
  });
  try {
    await local.waitFor(/tunnel up/, 60_000, "stderr");
    const [child] = childPids(local.pid);
    assert.ok(child, "a server child runs");
    await local.stop("SIGKILL");
    await waitUntil(() => !alive(child!), 15_000, "the orphaned server child to exit");
  } finally {
    await local.stop("SIGKILL");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
