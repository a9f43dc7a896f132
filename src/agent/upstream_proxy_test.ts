import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  connectViaProxy,
  noProxyMatches,
  offeredSchemes,
  parseProxyUrl,
  UpstreamProxyError,
  upstreamProxyRouter,
} from "./upstream_proxy.ts";

Deno.test("parseProxyUrl() reads host, port, percent-encoded credentials and DOMAIN\\user", () => {
  const p = parseProxyUrl("http://CORP%5Cj.doe:p%40ss%3Aword@proxy.corp:3128");
  assert.equal(p.host, "proxy.corp");
  assert.equal(p.port, 3128);
  assert.equal(p.username, "j.doe");
  assert.equal(p.password, "p@ss:word");
  assert.equal(p.domain, "CORP");
  assert.equal(p.display, "http://proxy.corp:3128");
  assert.equal(parseProxyUrl("proxy:8080").display, "http://proxy:8080");
  assert.equal(parseProxyUrl("http://[::1]:3128").host, "::1");
  assert.equal(parseProxyUrl("http://[::1]:3128").display, "http://[::1]:3128");
  assert.equal(parseProxyUrl("http://p").port, 80);
  assert.throws(() => parseProxyUrl("https://p:443"), /https: is not supported|https:\/\/ is not/);
  assert.throws(() => parseProxyUrl("socks5://u:secret@p:1080"), (e: Error) => {
    assert.ok(!e.message.includes("secret"));
    return true;
  });
});

Deno.test("noProxyMatches() follows the usual NO_PROXY forms", () => {
  const list = "localhost, .corp.example, example.org,10.0.0.0/8 ,svc:8443,[::1]";
  assert.ok(noProxyMatches(list, "localhost", 443));
  assert.ok(noProxyMatches(list, "a.corp.example", 443));
  assert.ok(noProxyMatches(list, "corp.example", 443));
  assert.ok(noProxyMatches(list, "example.org", 1));
  assert.ok(noProxyMatches(list, "www.example.org", 1));
  assert.ok(!noProxyMatches(list, "badexample.org", 1));
  assert.ok(noProxyMatches(list, "10.20.30.40", 443));
  assert.ok(!noProxyMatches(list, "11.0.0.1", 443));
  assert.ok(noProxyMatches(list, "svc", 8443));
  assert.ok(!noProxyMatches(list, "svc", 443));
  assert.ok(noProxyMatches(list, "::1", 443));
  assert.ok(noProxyMatches("*", "anything", 1));
  assert.ok(noProxyMatches(["*.example.com"], "a.example.com", 1));
  assert.ok(!noProxyMatches("", "example.com", 443));
});

Deno.test("upstreamProxyRouter(): config first, then https_proxy/HTTPS_PROXY with NO_PROXY", () => {
  const s = { url: "", auth: "auto" as const, domain: "", noProxy: [] };
  assert.equal(upstreamProxyRouter(s, {}), undefined);
  const env = upstreamProxyRouter(s, {
    HTTPS_PROXY: "http://upper:1",
    https_proxy: "http://lower:2",
    NO_PROXY: ".internal",
  })!;
  assert.equal(env.proxy.display, "http://lower:2");
  assert.equal(env.proxy.source, "https_proxy");
  assert.equal(env.route("server.example.com", 443)?.host, "lower");
  assert.equal(env.route("fluidity.internal", 443), undefined);
  // Like curl: loopback is proxied too unless NO_PROXY names it (`fluidity local` sets "none").
  assert.equal(env.route("127.0.0.1", 8443)?.host, "lower");

  const cfg = upstreamProxyRouter({ ...s, url: "http://cfg:3128", noProxy: ["direct.example"] }, {
    HTTPS_PROXY: "http://env:1",
    NO_PROXY: "*",
  })!;
  assert.equal(cfg.proxy.host, "cfg");
  assert.equal(cfg.route("127.0.0.1", 8443)?.host, "cfg", "an explicit proxy applies to loopback");
  assert.equal(cfg.route("x.example.com", 443)?.host, "cfg", "NO_PROXY is for the env proxy");
  assert.equal(cfg.route("direct.example", 443), undefined);
  assert.equal(
    upstreamProxyRouter({ ...s, url: "none" }, { HTTPS_PROXY: "http://env:1" }),
    undefined,
  );
  assert.throws(
    () => upstreamProxyRouter(s, { HTTPS_PROXY: "ftp://x" }),
    /environment HTTPS_PROXY: proxy scheme ftp:/,
  );
});

Deno.test("offeredSchemes() lists schemes, not parameters", () => {
  assert.deepEqual(
    offeredSchemes(['Basic realm="a, b", charset="UTF-8"', "NTLM", "Negotiate", "basic realm=x"]),
    ["Basic", "NTLM", "Negotiate"],
  );
  assert.deepEqual(offeredSchemes(['Digest realm="r", nonce="n", qop="auth"']), ["Digest"]);
  assert.deepEqual(offeredSchemes(["NTLM TlRMTVNTUAACAAAA"]), ["NTLM"]);
  assert.deepEqual(offeredSchemes([]), []);
});

/** A scripted proxy: each accepted connection runs `serve` with a line reader. */
function fakeProxy(serve: (conn: Deno.Conn, heads: AsyncIterator<string>) => Promise<void>) {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const done = (async () => {
    for await (const c of l) {
      conns.push(c);
      const heads = (async function* () {
        let buf = "";
        const b = new Uint8Array(4096);
        for (;;) {
          let i;
          while ((i = buf.indexOf("\r\n\r\n")) >= 0) {
            yield buf.slice(0, i + 4);
            buf = buf.slice(i + 4);
          }
          const n = await c.read(b).catch(() => null);
          if (n === null) return;
          buf += new TextDecoder().decode(b.subarray(0, n));
        }
      })();
      serve(c, heads).catch(() => {}).finally(() => {
        try {
          c.close();
        } catch { /* closed */ }
      });
    }
  })().catch(() => {});
  return {
    port: (l.addr as Deno.NetAddr).port,
    async close() {
      l.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await done;
    },
  };
}

const w = (c: Deno.Conn, s: string) => c.write(new TextEncoder().encode(s));

Deno.test("connectViaProxy() hands over the socket with bytes that came right after the 200", async () => {
  const seen: string[] = [];
  const proxy = fakeProxy(async (c, heads) => {
    const h = (await heads.next()).value as string;
    seen.push(h);
    await w(c, "HTTP/1.1 200 Connection established\r\n\r\nEARLY");
    await new Promise((r) => setTimeout(r, 50));
    await w(c, "-LATE");
    await new Promise((r) => setTimeout(r, 200));
  });
  try {
    const p = parseProxyUrl(`http://127.0.0.1:${proxy.port}`);
    const sock = await connectViaProxy(p, "server.example", 8443, { timeoutMs: 5000 });
    assert.match(
      seen[0]!,
      /^CONNECT server\.example:8443 HTTP\/1\.1\r\nHost: server\.example:8443\r\n/,
    );
    assert.ok(!/Proxy-Authorization/i.test(seen[0]!));
    const got = await new Promise<string>((resolve) => {
      let s = "";
      sock.on("data", (b: Buffer) => {
        s += b.toString();
        if (s.includes("LATE")) resolve(s);
      });
      sock.resume(); // handed over paused, so nothing flows before its new owner listens
      setTimeout(() => resolve(`timed out with ${JSON.stringify(s)}`), 3000);
    });
    assert.equal(got, "EARLY-LATE");
    sock.destroy();
  } finally {
    await proxy.close();
  }
});

Deno.test("connectViaProxy() answers a Basic 407 on the same connection and reports rejection", async () => {
  const seen: string[] = [];
  const proxy = fakeProxy(async (c, heads) => {
    for (;;) {
      const n = await heads.next();
      if (n.done) return;
      seen.push(n.value);
      const ok = n.value.includes(`Proxy-Authorization: Basic ${btoa("u:good")}`);
      await w(
        c,
        ok ? "HTTP/1.1 200 OK\r\n\r\n" : "HTTP/1.1 407 Proxy Authentication Required\r\n" +
          'Proxy-Authenticate: Negotiate\r\nProxy-Authenticate: Basic realm="x"\r\n' +
          "Content-Length: 5\r\n\r\nnope!",
      );
      if (ok) await new Promise((r) => setTimeout(r, 100));
    }
  });
  try {
    const good = parseProxyUrl(`http://u:good@127.0.0.1:${proxy.port}`);
    const sock = await connectViaProxy(good, "s", 1, { timeoutMs: 5000 });
    sock.destroy();
    assert.equal(seen.length, 2, "one connection: challenge, then credentials");
    const bad = parseProxyUrl(`http://u:bad@127.0.0.1:${proxy.port}`);
    await assert.rejects(connectViaProxy(bad, "s", 1, { timeoutMs: 5000 }), (e: Error) => {
      assert.ok(e instanceof UpstreamProxyError);
      assert.equal(e.status, 407);
      assert.deepEqual(e.offered, ["Negotiate", "Basic"]);
      assert.match(
        e.message,
        /rejected the Basic credentials of user "u" .*it offers Negotiate, Basic/,
      );
      assert.ok(!e.message.includes("bad"));
      return true;
    });
  } finally {
    await proxy.close();
  }
});

Deno.test("connectViaProxy() errors: other statuses, silence, a proxy closing mid-NTLM", async () => {
  const proxy = fakeProxy(async (c, heads) => {
    const h = (await heads.next()).value as string;
    if (h.includes("CONNECT forbidden:1")) {
      await w(c, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
    } else if (h.includes("CONNECT ntlm:1")) {
      await w(
        c,
        "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: NTLM " +
          "TlRMTVNTUAACAAAACQAJAK6qqqoGgggAyEOAIFb/IzQAAAAAAAA6AFdPUktHUk9VUA==\r\n" +
          "Connection: close\r\nContent-Length: 0\r\n\r\n",
      );
    } else {
      await new Promise((r) => setTimeout(r, 2000)); // silent
    }
  });
  const p = (auth: "auto" | "ntlm" = "auto") =>
    parseProxyUrl(`http://u:pw@127.0.0.1:${proxy.port}`, { auth });
  try {
    await assert.rejects(
      connectViaProxy(p(), "forbidden", 1, { timeoutMs: 5000 }),
      /upstream proxy http:\/\/127\.0\.0\.1:\d+: refused CONNECT to forbidden:1: 403 Forbidden/,
    );
    await assert.rejects(
      connectViaProxy(p("ntlm"), "ntlm", 1, { timeoutMs: 5000 }),
      /closed the connection in the middle of the NTLM handshake/,
    );
    await assert.rejects(
      connectViaProxy(p(), "silent", 1, { timeoutMs: 300 }),
      /upstream proxy http:\/\/127\.0\.0\.1:\d+: no answer within 0\.3s/,
    );
  } finally {
    await proxy.close();
  }
});
