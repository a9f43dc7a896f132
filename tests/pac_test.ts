/**
 * End-to-end: `GET /proxy.pac` from a real agent, evaluated browser-style by
 * pac-resolver (the PAC engine of Node's proxy-agent, QuickJS sandbox), and
 * the proxy it names used for a real request.
 */
import assert from "node:assert/strict";
import { createPacResolver } from "pac-resolver";
import { QuickJS } from "quickjs-wasi";
import { startTunnel } from "./helpers/tunnel.ts";
import { spawnFluidity } from "./helpers/procs.ts";
import { startHttpOrigin } from "./helpers/origins.ts";

Deno.test("e2e PAC: /proxy.pac routes through the agent (HTTP, then SOCKS5) with DIRECT exceptions", async () => {
  const [tunnel, origin] = await Promise.all([
    startTunnel({
      agentArgs: ["--socks-listen", "127.0.0.1:0"],
      env: { FLUIDITY_PAC_DIRECT: ".corp.example, 192.168.0.0/16, printer.lan" },
    }),
    startHttpOrigin(),
  ]);
  try {
    const socks = (await tunnel.agent.waitFor(/SOCKS5 listening on (\S+)/, 10_000, "stdout"))[1]!;
    const proxy = tunnel.proxyUrl.replace("http://", "");
    const res = await fetch(`http://${tunnel.agentHealth}/proxy.pac`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/x-ns-proxy-autoconfig");
    const script = await res.text();
    const find = createPacResolver(await QuickJS.create(), script, {
      sandbox: {
        dnsResolve: () => {
          throw new Error("the PAC file resolved a name");
        },
      },
    });
    const via = `PROXY ${proxy}; SOCKS5 ${socks}`;
    for (const url of ["https://example.com/", "http://93.184.216.34/", "wss://x.example.org/"]) {
      assert.equal(await find(url), via, url);
    }
    for (
      const url of [
        "http://intranet/",
        "http://localhost:3000/",
        "http://127.0.0.1/",
        "http://[::1]/",
        "https://wiki.corp.example/",
        "http://192.168.1.20/",
        "http://printer.lan/",
        "http://a.printer.lan/",
      ]
    ) assert.equal(await find(url), "DIRECT", url);

    // The proxy the PAC file names works (HEAD of the routing result).
    const named = (await find("http://example.com/")).split(";")[0]!.replace("PROXY ", "");
    const client = Deno.createHttpClient({ proxy: { url: `http://${named}` } });
    try {
      const r = await fetch(`${origin.url}/echo?via=pac`, { client });
      assert.equal((await r.json()).method, "GET");
    } finally {
      client.close();
    }
  } finally {
    await origin.close();
    await tunnel.close();
  }
});

Deno.test("e2e PAC: pac.proxy_domains limits the tunnel to those domains", async () => {
  const tunnel = await startTunnel({
    env: { FLUIDITY_PAC_PROXY_DOMAINS: "*.example.com,example.net" },
  });
  try {
    const script = await (await fetch(`http://${tunnel.agentHealth}/proxy.pac`)).text();
    const find = createPacResolver(await QuickJS.create(), script);
    const proxy = `PROXY ${tunnel.proxyUrl.replace("http://", "")}`;
    assert.equal(await find("https://example.com/"), proxy);
    assert.equal(await find("https://api.example.com/"), proxy);
    assert.equal(await find("https://www.example.net/"), proxy);
    assert.equal(await find("https://example.org/"), "DIRECT");
    assert.equal(await find("https://github.com/"), "DIRECT");
  } finally {
    await tunnel.close();
  }
});

Deno.test("e2e PAC: a pattern the PAC file cannot express is a configuration error (exit 2)", async () => {
  const p = spawnFluidity(["agent", "--server", "127.0.0.1:1"], {
    env: { FLUIDITY_PAC_DIRECT: 'bad"pattern' },
  });
  const status = await p.status;
  assert.equal(status.code, 2);
  assert.match(p.stderr.join("\n"), /pac\.direct: "bad\\"pattern" is not a host/);
});
