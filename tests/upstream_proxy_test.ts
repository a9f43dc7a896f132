/**
 * End-to-end: the agent's link to the server through a real squid (Debian's
 * package, started here on loopback): no authentication, Basic
 * (`basic_ncsa_auth`), NTLM (`ntlm_fake_auth` runs a real NTLM handshake), a
 * wrong Basic password and a proxy offering only Digest → clear errors that
 * name the proxy and its schemes and never show the password. Also the ALPN id
 * the agent offers and the server announces.
 */
import assert from "node:assert/strict";
import { startTunnel, type Tunnel } from "./helpers/tunnel.ts";
import { type Proc, spawnFluidity } from "./helpers/procs.ts";
import { startHttpOrigin } from "./helpers/origins.ts";
import { type Squid, type SquidAuth, startSquid } from "./helpers/squid.ts";

/** Tunnel through squid; checks a request end to end and that squid carried the link. */
async function throughSquid(
  auth: SquidAuth,
  proxyUrl: (squid: Squid) => string,
  users: Record<string, string>,
  check: (c: { tunnel: Tunnel; squid: Squid; log: string }) => void,
  env: Record<string, string> = {},
): Promise<void> {
  const [squid, origin] = await Promise.all([startSquid(auth, users), startHttpOrigin()]);
  let tunnel: Tunnel | undefined;
  try {
    tunnel = await startTunnel({ agentArgs: ["--upstream-proxy", proxyUrl(squid)], env });
    const client = Deno.createHttpClient({ proxy: { url: tunnel.proxyUrl } });
    try {
      const res = await fetch(`${origin.url}/echo?via=squid`, { client });
      assert.equal(res.status, 200);
      assert.equal((await res.json()).method, "GET");
    } finally {
      client.close();
    }
    await tunnel.agent.waitFor(/link goes through an upstream proxy/);
    const port = tunnel.serverAddress.split(":").pop();
    await tunnel.close(); // squid writes a CONNECT's access line when the tunnel ends
    let log = "";
    const tunnelled = (l: string) =>
      l.includes("TCP_TUNNEL/200") && l.includes(`CONNECT 127.0.0.1:${port} `);
    for (let i = 0; i < 100 && !log.split("\n").some(tunnelled); i++) {
      await new Promise((r) => setTimeout(r, 100));
      log = await squid.accessLog();
    }
    const line = log.split("\n").find(tunnelled);
    assert.ok(line, `squid logged no CONNECT tunnel to the server:\n${log}`);
    check({ tunnel, squid, log: line });
  } finally {
    await tunnel?.close();
    await origin.close();
    await squid.close();
  }
}

Deno.test("e2e upstream proxy: the link goes through squid without authentication", async () => {
  await throughSquid("none", (s) => s.url, {}, ({ tunnel, squid, log }) => {
    assert.match(log, /TCP_TUNNEL\/200 .* - HIER_DIRECT/);
    const line = tunnel.agent.stderr.find((l) =>
      l.includes("link goes through an upstream proxy")
    )!;
    assert.ok(line.includes(squid.url), line);
  });
});

Deno.test("e2e upstream proxy: Basic credentials (basic_ncsa_auth)", async () => {
  await throughSquid(
    "basic",
    (s) => s.url.replace("//", "//alice:s3cr%40t@"),
    { alice: "s3cr@t" },
    ({ tunnel, log }) => {
      assert.match(log, /TCP_TUNNEL\/200 .* alice HIER_DIRECT/);
      assert.ok(!tunnel.agent.stderr.join("\n").includes("s3cr"), "password never logged");
    },
  );
});

Deno.test("e2e upstream proxy: NTLM handshake (ntlm_fake_auth), domain from DOMAIN\\user", async () => {
  await throughSquid(
    "ntlm",
    (s) => s.url.replace("//", "//CORP%5Cbob:Passw0rd@"),
    {},
    ({ tunnel, log }) => {
      // ntlm_fake_auth reports the user name from the type 3 message.
      assert.match(log, /TCP_TUNNEL\/200 .*bob.* HIER_DIRECT/i);
      assert.ok(!tunnel.agent.stderr.join("\n").includes("Passw0rd"), "password never logged");
    },
  );
});

Deno.test("e2e upstream proxy: NTLM sent at once with upstream_proxy.auth=ntlm", async () => {
  await throughSquid(
    "ntlm",
    (s) => s.url.replace("//", "//carol:pw@"),
    {},
    ({ log }) => assert.match(log, /TCP_TUNNEL\/200 .*carol.* HIER_DIRECT/i),
    { FLUIDITY_UPSTREAM_PROXY_AUTH: "ntlm", FLUIDITY_UPSTREAM_PROXY_DOMAIN: "WORKGROUP" },
  );
});

/** An agent (beside the tunnel's own) whose link goes through `proxy`; returns it unstarted-waiting. */
function agentVia(tunnel: Tunnel, proxy: string, env: Record<string, string> = {}): Proc {
  return spawnFluidity([
    "agent",
    "--listen",
    "127.0.0.1:0",
    "--server",
    tunnel.serverAddress,
    "--cert",
    `${tunnel.dir}/agent.crt`,
    "--key",
    `${tunnel.dir}/agent.key`,
    "--ca",
    `${tunnel.dir}/ca.crt`,
    "--upstream-proxy",
    proxy,
  ], { env: { FLUIDITY_RECONNECT_INITIAL: "100ms", FLUIDITY_RECONNECT_MAX: "500ms", ...env } });
}

Deno.test("e2e upstream proxy: a wrong Basic password is a clear, retried error without the password", async () => {
  const [squid, tunnel] = await Promise.all([
    startSquid("basic", { alice: "right-password" }),
    startTunnel(),
  ]);
  const agent = agentVia(tunnel, squid.url.replace("//", "//alice:wrong-password@"));
  try {
    const m = await agent.waitFor(/cannot connect to the server.*/, 30_000, "stderr");
    assert.match(
      m[0],
      new RegExp(
        `upstream proxy ${squid.url}: rejected the Basic credentials of user \\\\?"alice\\\\?" ` +
          `\\(407 Proxy Authentication Required; it offers Basic\\)`,
      ),
    );
    // Retried like any dial failure.
    await agent.waitFor(/cannot connect to the server.*failures=3|"failures":3/, 30_000, "stderr");
    const all = agent.stderr.join("\n") + agent.stdout.join("\n");
    assert.ok(!all.includes("wrong-password"), "password never logged");
    assert.ok(!all.includes(btoa("alice:wrong-password")), "credentials never logged");
  } finally {
    await agent.stop();
    await tunnel.close();
    await squid.close();
  }
});

Deno.test("e2e upstream proxy: a proxy offering only Digest is named in a clear error", async () => {
  const [squid, tunnel] = await Promise.all([
    startSquid("digest", { alice: "pw" }),
    startTunnel(),
  ]);
  const agent = agentVia(tunnel, squid.url.replace("//", "//alice:pw@"));
  const bare = agentVia(tunnel, squid.url);
  try {
    const m = await agent.waitFor(/cannot connect to the server.*/, 30_000, "stderr");
    assert.match(
      m[0],
      new RegExp(
        `upstream proxy ${squid.url}: requires authentication with Digest, ` +
          "which Fluidity does not speak here \\(it speaks Basic and NTLM\\)",
      ),
    );
    const b = await bare.waitFor(/cannot connect to the server.*/, 30_000, "stderr");
    assert.match(b[0], /requires authentication with Digest, which Fluidity does not speak/);
  } finally {
    await Promise.all([agent.stop(), bare.stop()]);
    await tunnel.close();
    await squid.close();
  }
});

Deno.test("e2e upstream proxy: no credentials for a Basic proxy, and a proxy that is down", async () => {
  const [squid, tunnel] = await Promise.all([startSquid("basic", { alice: "pw" }), startTunnel()]);
  const agent = agentVia(tunnel, squid.url);
  const down = agentVia(tunnel, "http://127.0.0.1:1");
  try {
    const m = await agent.waitFor(/cannot connect to the server.*/, 30_000, "stderr");
    assert.match(m[0], /requires authentication \(it offers Basic\); give credentials/);
    const d = await down.waitFor(/cannot connect to the server.*/, 30_000, "stderr");
    assert.match(
      d[0],
      /upstream proxy http:\/\/127\.0\.0\.1:1: cannot reach the proxy: connection refused/,
    );
  } finally {
    await Promise.all([agent.stop(), down.stop()]);
    await tunnel.close();
    await squid.close();
  }
});

Deno.test("e2e ALPN: the agent offers tls.alpn, the server announces it; a mismatch is named", async () => {
  const tunnel = await startTunnel();
  const other = spawnFluidity([
    "agent",
    "--listen",
    "127.0.0.1:0",
    "--server",
    tunnel.serverAddress,
    "--cert",
    `${tunnel.dir}/agent.crt`,
    "--key",
    `${tunnel.dir}/agent.key`,
    "--ca",
    `${tunnel.dir}/ca.crt`,
  ], { env: { FLUIDITY_TLS_ALPN: "other/1" } });
  try {
    await tunnel.server.waitFor(/link up.*alpn=fluidity\/1/, 10_000, "stderr");
    await other.waitFor(
      /cannot connect to the server.*refused the ALPN protocol \\?"other\/1\\?": tls.alpn must be the same/,
      20_000,
      "stderr",
    );
  } finally {
    await other.stop();
    await tunnel.close();
  }
});

Deno.test({
  name: "e2e upstream proxy: HTTPS_PROXY from the environment is used, NO_PROXY honoured",
  async fn() {
    const [squid, tunnel] = await Promise.all([startSquid("none"), startTunnel()]);
    const target = tunnel.serverAddress;
    const agent = (env: Record<string, string>) =>
      spawnFluidity([
        "agent",
        "--listen",
        "127.0.0.1:0",
        "--server",
        target,
        "--cert",
        `${tunnel.dir}/agent.crt`,
        "--key",
        `${tunnel.dir}/agent.key`,
        "--ca",
        `${tunnel.dir}/ca.crt`,
      ], { env: { NO_PROXY: "", no_proxy: "", HTTPS_PROXY: squid.url, ...env } });
    const viaEnv = agent({});
    const bypass = agent({ NO_PROXY: "localhost,127.0.0.1" });
    try {
      await viaEnv.waitFor(/link goes through an upstream proxy.*from=HTTPS_PROXY/);
      await viaEnv.waitFor(/tunnel up/, 30_000, "stderr");
      await bypass.waitFor(/tunnel up/, 30_000, "stderr");
      // squid logs a CONNECT when its tunnel ends: stop both agents, then exactly one
      // CONNECT to the server must be there (the one from the environment).
      await Promise.all([viaEnv.stop(), bypass.stop()]);
      let log = "";
      const deadline = Date.now() + 10_000;
      while (
        !(log = await squid.accessLog()).includes(`CONNECT ${target}`) && Date.now() < deadline
      ) {
        await new Promise((r) => setTimeout(r, 100));
      }
      const connects = log.split("\n").filter((l) => l.includes(`CONNECT ${target}`));
      assert.equal(connects.length, 1, log);
    } finally {
      await Promise.all([viaEnv.stop(), bypass.stop()]);
      await tunnel.close();
      await squid.close();
    }
  },
});
