import assert from "node:assert/strict";
import { createPacResolver } from "pac-resolver";
import { QuickJS } from "quickjs-wasi";
import { checkPacPattern, pacRoute, pacScript } from "./pac.ts";

/** Evaluates a PAC script the way Node's proxy-agent does (QuickJS sandbox, standard helpers). */
async function evaluator(script: string) {
  const qjs = await QuickJS.create();
  const find = createPacResolver(qjs, script, {
    sandbox: {
      // Any DNS use by the script fails the test: the file must decide without lookups.
      dnsResolve: () => {
        throw new Error("the PAC file resolved a name");
      },
    },
  });
  return (url: string) => find(url);
}

Deno.test("pacScript() sends everything through the agent except plain names and loopback", async () => {
  const find = await evaluator(
    pacScript({ proxy: "127.0.0.1:8080", proxyDomains: [], direct: [] }),
  );
  assert.equal(await find("https://example.com/"), "PROXY 127.0.0.1:8080");
  assert.equal(await find("http://93.184.216.34/x"), "PROXY 127.0.0.1:8080");
  assert.equal(await find("http://intranet/"), "DIRECT");
  assert.equal(await find("http://localhost:3000/"), "DIRECT");
  assert.equal(await find("http://app.localhost/"), "DIRECT");
  assert.equal(await find("http://127.0.0.1:9000/"), "DIRECT");
  assert.equal(await find("http://127.5.5.5/"), "DIRECT");
  assert.equal(await find("http://[::1]:8080/"), "DIRECT");
});

Deno.test("pacScript() honours exceptions, domain patterns and the SOCKS5 fallback", async () => {
  const find = await evaluator(pacScript({
    proxy: "127.0.0.1:8080",
    socks: "127.0.0.1:1080",
    proxyDomains: ["*.example.com", ".example.org", "example.net", "10.0.0.0/8"],
    direct: [".corp.example.com", "10.1.0.0/16", "ws-??.example.net"],
  }));
  const via = "PROXY 127.0.0.1:8080; SOCKS5 127.0.0.1:1080";
  assert.equal(await find("https://example.com/"), via);
  assert.equal(await find("https://www.example.com/"), via);
  assert.equal(await find("https://a.b.example.org/"), via);
  assert.equal(await find("https://example.org/"), via);
  assert.equal(await find("https://example.net/"), via);
  assert.equal(await find("https://deep.example.net/"), via);
  assert.equal(await find("http://10.2.3.4/"), via);
  assert.equal(await find("https://wiki.corp.example.com/"), "DIRECT");
  assert.equal(await find("http://10.1.9.9/"), "DIRECT");
  assert.equal(await find("https://ws-01.example.net/"), "DIRECT");
  assert.equal(await find("https://notexample.com/"), "DIRECT");
  assert.equal(await find("https://example.com.evil.io/"), "DIRECT");
  assert.equal(await find("https://google.com/"), "DIRECT");
});

Deno.test("pacRoute() serves the PAC type and names the host it was fetched from for 0.0.0.0", async () => {
  const route = pacRoute({
    proxy: "0.0.0.0:8080",
    socks: "[::]:1080",
    proxyDomains: [],
    direct: [],
  });
  const res = await route(new Request("http://192.0.2.10:9090/proxy.pac"));
  assert.equal(res.headers.get("content-type"), "application/x-ns-proxy-autoconfig");
  const find = await evaluator(await res.text());
  assert.equal(await find("https://example.com/"), "PROXY 192.0.2.10:8080; SOCKS5 192.0.2.10:1080");
});

Deno.test("checkPacPattern() refuses what a PAC file cannot express", () => {
  checkPacPattern("*.example.com", "pac.direct");
  checkPacPattern("10.0.0.0/8", "pac.direct");
  assert.throws(() => checkPacPattern('a"b', "pac.direct"), /pac.direct: "a\\"b"/);
  assert.throws(() => checkPacPattern("10.0.0.0/33", "pac.direct"), /prefix/);
});
