import assert from "node:assert/strict";
import {
  bytesToLatin1,
  clientKeepAlive,
  HttpError,
  latin1ToBytes,
  originRequestHead,
  parseAbsoluteTarget,
  parseAuthority,
  parseRequestHead,
  parseResponseHead,
  responseFraming,
} from "./head.ts";

const req = (s: string) => parseRequestHead(latin1ToBytes(s));
const res = (s: string) => parseResponseHead(latin1ToBytes(s));

/** Asserts `fn` throws HttpError with `status` and a message matching `re`. */
function throwsHttp(fn: () => unknown, status: number, re?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof HttpError, `expected HttpError, got ${e}`);
    assert.equal(e.status, status, e.message);
    if (re) assert.match(e.message, re);
    return true;
  });
}

const H = "Host: example.com\r\n";

Deno.test("parseRequestHead() parses absolute-form, authority-form, origin-form and asterisk", () => {
  const a = req(`GET http://example.com/a?b HTTP/1.1\r\n${H}X-A:  v  \r\n\r\n`);
  assert.equal(a.method, "GET");
  assert.equal(a.target, "http://example.com/a?b");
  assert.equal(a.version, "HTTP/1.1");
  assert.deepEqual(a.headers[1], { raw: "X-A:  v  ", name: "x-a", value: "v" });
  assert.deepEqual(a.framing, { kind: "none" });
  assert.equal(req("CONNECT example.com:443 HTTP/1.1\r\n\r\n").target, "example.com:443");
  assert.equal(req(`GET /path HTTP/1.0\r\n${H}\r\n`).version, "HTTP/1.0");
  assert.equal(req("OPTIONS * HTTP/1.1\r\n\r\n").target, "*");
  // LF-only line endings are accepted.
  assert.equal(req("GET http://a/ HTTP/1.1\nHost: a\n\n").headers[0]!.value, "a");
  // Methods are case-sensitive tokens: forwarded as sent.
  assert.equal(req("get http://a/ HTTP/1.1\r\n\r\n").method, "get");
  assert.equal(req("M-SEARCH http://a/ HTTP/1.1\r\n\r\n").method, "M-SEARCH");
});

Deno.test("parseRequestHead() rejects malformed request lines with 400", () => {
  const cases: Array<[string, RegExp]> = [
    ["\r\n\r\n", /empty request line/],
    ["GET http://a/\r\n\r\n", /malformed request line/],
    ["GET\r\n\r\n", /malformed request line/],
    ["GET  http://a/ HTTP/1.1\r\n\r\n", /malformed request line/],
    ["GET http://a/ HTTP/1.1 \r\n\r\n", /malformed request line/],
    [" GET http://a/ HTTP/1.1\r\n\r\n", /malformed request line/],
    ["GET\thttp://a/\tHTTP/1.1\r\n\r\n", /malformed request line/],
    ["GET http://a/ b HTTP/1.1\r\n\r\n", /malformed request line/],
    ["G(T http://a/ HTTP/1.1\r\n\r\n", /invalid method/],
    ["GE\x00T http://a/ HTTP/1.1\r\n\r\n", /invalid method/],
    ["GÉT http://a/ HTTP/1.1\r\n\r\n", /invalid method/],
    ["GET http://a/ http/1.1\r\n\r\n", /invalid HTTP version/],
    ["GET http://a/ HTTP/1\r\n\r\n", /invalid HTTP version/],
    ["GET http://a/ HTTP/1.1x\r\n\r\n", /invalid HTTP version/],
    ["GET http://a/ HTTP/11.1\r\n\r\n", /invalid HTTP version/],
    ["GET http://a/\x7f HTTP/1.1\r\n\r\n", /invalid request target/],
    ["GET http://a/\x01 HTTP/1.1\r\n\r\n", /invalid request target/],
    ["GET http://a/\rb HTTP/1.1\r\n\r\n", /invalid request target/],
  ];
  for (const [head, re] of cases) throwsHttp(() => req(head), 400, re);
});

Deno.test("parseRequestHead() answers 505 to other HTTP versions", () => {
  for (const v of ["HTTP/2.0", "HTTP/0.9", "HTTP/3.0", "HTTP/1.2"]) {
    throwsHttp(() => req(`GET http://a/ ${v}\r\n\r\n`), 505, /not supported/);
  }
});

Deno.test("parseRequestHead() rejects both Transfer-Encoding and Content-Length", () => {
  for (const order of [true, false]) {
    const te = "Transfer-Encoding: chunked\r\n";
    const cl = "Content-Length: 5\r\n";
    throwsHttp(
      () => req(`POST http://a/ HTTP/1.1\r\n${order ? te + cl : cl + te}\r\n`),
      400,
      /smuggling/,
    );
  }
});

Deno.test("parseRequestHead() rejects conflicting or invalid Content-Length", () => {
  const head = (...cls: string[]) =>
    `POST http://a/ HTTP/1.1\r\n${cls.map((v) => `Content-Length: ${v}\r\n`).join("")}\r\n`;
  throwsHttp(() => req(head("5", "6")), 400, /conflicting Content-Length/);
  throwsHttp(() => req(head("5, 6")), 400, /conflicting/);
  throwsHttp(() => req(head("5", "5", "05")), 400, /conflicting/);
  for (const bad of ["-1", "+5", "0x10", "1e3", "5.0", "", "abc", "12345678901234567", " 5 5"]) {
    throwsHttp(() => req(head(bad)), 400, /Content-Length/);
  }
  // Identical duplicates are one value.
  assert.deepEqual(req(head("5", "5")).framing, { kind: "length", length: 5 });
  assert.deepEqual(req(head("7, 7")).framing, { kind: "length", length: 7 });
  assert.deepEqual(req(head("0")).framing, { kind: "none" });
  assert.deepEqual(req(head("9007199254740991")).framing, {
    kind: "length",
    length: Number.MAX_SAFE_INTEGER,
  });
  throwsHttp(() => req(head("9007199254740992")), 400, /invalid Content-Length/);
});

Deno.test("parseRequestHead() requires chunked as the final transfer coding, once", () => {
  const head = (...tes: string[]) =>
    `POST http://a/ HTTP/1.1\r\n${tes.map((v) => `Transfer-Encoding: ${v}\r\n`).join("")}\r\n`;
  for (const bad of ["gzip", "chunked, gzip", "xchunked", "chunked;q=1", "identity", ""]) {
    throwsHttp(() => req(head(bad)), 400, /Transfer-Encoding without chunked|final/);
  }
  throwsHttp(() => req(head("chunked, chunked")), 400, /more than once/);
  throwsHttp(() => req(head("chunked", "chunked")), 400, /more than once/);
  assert.deepEqual(req(head("chunked")).framing, { kind: "chunked" });
  assert.deepEqual(req(head("gzip, Chunked")).framing, { kind: "chunked" });
  assert.deepEqual(req(head("gzip", "chunked")).framing, { kind: "chunked" });
});

Deno.test("parseRequestHead() rejects obs-fold, space before colon and bad header bytes", () => {
  const with_ = (line: string) => `GET http://a/ HTTP/1.1\r\nHost: a\r\n${line}\r\n\r\n`;
  throwsHttp(() => req(with_(" folded")), 400, /obsolete line folding/);
  throwsHttp(() => req(with_("\tfolded")), 400, /obsolete line folding/);
  throwsHttp(() => req(with_("Host : a")), 400, /invalid header name/);
  throwsHttp(() => req(with_("Host\t: a")), 400, /invalid header name/);
  throwsHttp(() => req(with_("X(y): a")), 400, /invalid header name/);
  throwsHttp(() => req(with_("Ünï: a")), 400, /invalid header name/);
  throwsHttp(() => req(with_(": a")), 400, /malformed header line/);
  throwsHttp(() => req(with_("no colon here")), 400, /malformed header line/);
  throwsHttp(() => req(with_("X-A: a\x00b")), 400, /invalid characters in header X-A/);
  throwsHttp(() => req(with_("X-A: a\x7fb")), 400, /invalid characters/);
  throwsHttp(() => req(with_("X-A: a\x1bb")), 400, /invalid characters/);
  throwsHttp(() => req(with_("X-A: a\rb")), 400, /bare CR/);
  throwsHttp(() => req(`GET http://a/ HTTP/1.1\r\nX: a\r\r\n\r\n`), 400, /bare CR/);
  // obs-text and tabs inside values are fine.
  assert.equal(req(with_("X-A: caf\xe9\tau lait")).headers[1]!.value, "caf\xe9\tau lait");
  assert.equal(req(with_("X-Empty:")).headers[1]!.value, "");
});

Deno.test("parseRequestHead() answers 431 past the header count", () => {
  const lines = (n: number) => Array.from({ length: n }, (_, i) => `X-${i}: v\r\n`).join("");
  assert.equal(req(`GET http://a/ HTTP/1.1\r\n${lines(256)}\r\n`).headers.length, 256);
  throwsHttp(() => req(`GET http://a/ HTTP/1.1\r\n${lines(257)}\r\n`), 431, /more than 256/);
  throwsHttp(
    () => parseRequestHead(latin1ToBytes(`GET http://a/ HTTP/1.1\r\n${lines(3)}\r\n`), 2),
    431,
  );
});

Deno.test("parseRequestHead() collects Connection and Proxy-Connection tokens", () => {
  const r = req(
    "GET http://a/ HTTP/1.1\r\nConnection: Keep-Alive, Upgrade\r\nProxy-Connection: close\r\n\r\n",
  );
  assert.deepEqual([...r.connection].sort(), ["close", "keep-alive", "upgrade"]);
});

Deno.test("clientKeepAlive() follows the version and Connection tokens", () => {
  assert.equal(clientKeepAlive(req("GET http://a/ HTTP/1.1\r\n\r\n")), true);
  assert.equal(clientKeepAlive(req("GET http://a/ HTTP/1.1\r\nConnection: close\r\n\r\n")), false);
  assert.equal(clientKeepAlive(req("GET http://a/ HTTP/1.0\r\n\r\n")), false);
  assert.equal(
    clientKeepAlive(req("GET http://a/ HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")),
    true,
  );
});

Deno.test("parseResponseHead() parses status lines with and without a reason", () => {
  const r = res("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\n");
  assert.equal(r.status, 200);
  assert.equal(r.version, "HTTP/1.1");
  assert.equal(r.statusLine, "HTTP/1.1 200 OK");
  assert.ok(r.connection.has("close"));
  assert.equal(res("HTTP/1.0 404\r\n\r\n").status, 404);
  assert.equal(res("HTTP/1.1 599 \r\n\r\n").status, 599);
});

Deno.test("parseResponseHead() answers 502 for a malformed origin response", () => {
  for (
    const bad of [
      "",
      "\r\n\r\n",
      "HTTP/1.1 20 OK\r\n\r\n",
      "HTTP/1.1 2000 OK\r\n\r\n",
      "HTTP/1.1  200 OK\r\n\r\n",
      "HTTP/1.1 200OK\r\n\r\n",
      "http/1.1 200 OK\r\n\r\n",
      "ICY 200 OK\r\n\r\n",
    ]
  ) {
    throwsHttp(() => res(bad), 502, /malformed status line/);
  }
  throwsHttp(() => res("HTTP/1.1 200 OK\r\n folded\r\n\r\n"), 502, /malformed response/);
  throwsHttp(() => res("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n"), 502, /malformed response/);
  throwsHttp(() => res("HTTP/1.1 200 OK\r\nX: \x00\r\n\r\n"), 502, /malformed response/);
  const many = Array.from({ length: 513 }, (_, i) => `X-${i}: v\r\n`).join("");
  throwsHttp(() => res(`HTTP/1.1 200 OK\r\n${many}\r\n`), 502, /malformed response/);
});

Deno.test("responseFraming() follows RFC 9112 §6.3", () => {
  const r = (s: string) => res(`HTTP/1.1 ${s}\r\n\r\n`);
  assert.deepEqual(responseFraming(r("200 OK\r\nContent-Length: 3"), "HEAD"), { kind: "none" });
  assert.deepEqual(responseFraming(r("204 No Content"), "GET"), { kind: "none" });
  assert.deepEqual(responseFraming(r("304 Not Modified\r\nContent-Length: 9"), "GET"), {
    kind: "none",
  });
  assert.deepEqual(responseFraming(r("103 Early Hints"), "GET"), { kind: "none" });
  assert.deepEqual(responseFraming(r("200 OK\r\nContent-Length: 3"), "GET"), {
    kind: "length",
    length: 3,
  });
  assert.deepEqual(responseFraming(r("200 OK\r\nTransfer-Encoding: chunked"), "GET"), {
    kind: "chunked",
  });
  // A response with a non-chunked final coding is delimited by close.
  assert.deepEqual(responseFraming(r("200 OK\r\nTransfer-Encoding: gzip"), "GET"), {
    kind: "close",
  });
  assert.deepEqual(responseFraming(r("200 OK"), "GET"), { kind: "close" });
  throwsHttp(
    () => responseFraming(r("200 OK\r\nContent-Length: 1\r\nContent-Length: 2"), "GET"),
    502,
    /conflicting/,
  );
  throwsHttp(
    () => responseFraming(r("200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked"), "GET"),
    502,
    /smuggling/,
  );
});

Deno.test("originRequestHead() rewrites the target and drops only the proxy's headers", () => {
  const r = req(
    "POST http://a.example/x?y HTTP/1.1\r\nHost: a.example\r\nProxy-Connection: keep-alive\r\n" +
      "proxy-authorization: Basic eA==\r\nX-Keep:  raw \r\nx-keep: two\r\nContent-Length: 0\r\n\r\n",
  );
  assert.equal(
    bytesToLatin1(originRequestHead(r, "/x?y")),
    "POST /x?y HTTP/1.1\r\nHost: a.example\r\nX-Keep:  raw \r\nx-keep: two\r\nContent-Length: 0\r\n\r\n",
  );
});

Deno.test("latin1ToBytes() and bytesToLatin1() map one char per byte", () => {
  // TextDecoder("latin1") is windows-1252 per WHATWG: 0x80-0x9f would become
  // U+20AC etc. and not survive the round trip.
  const all = new Uint8Array(256).map((_, i) => i);
  assert.deepEqual(latin1ToBytes(bytesToLatin1(all)), all);
  assert.equal(bytesToLatin1(new Uint8Array([0x80, 0x9f])), "\x80\x9f");
});

Deno.test("parseRequestHead() keeps UTF-8 header values byte for byte", () => {
  // "5€" is 35 e2 82 ac: 0x82 is a byte in the 0x80-0x9f range.
  const bytes = new TextEncoder().encode(
    "GET http://a/ HTTP/1.1\r\nHost: a\r\nX-Price: 5\u20ac\r\n\r\n",
  );
  const r = parseRequestHead(bytes);
  assert.deepEqual(
    originRequestHead(r, "/"),
    bytes.slice(0, 4).length
      ? latin1ToBytes(
        `GET / HTTP/1.1\r\nHost: a\r\nX-Price: 5\xe2\x82\xac\r\n\r\n`,
      )
      : bytes,
  );
});

Deno.test("parseAbsoluteTarget() splits http and ws URLs", () => {
  assert.deepEqual(parseAbsoluteTarget("http://example.com/a/b?c=d"), {
    host: "example.com",
    port: 80,
    authority: "example.com:80",
    path: "/a/b?c=d",
  });
  assert.equal(parseAbsoluteTarget("http://example.com").path, "/");
  assert.equal(parseAbsoluteTarget("http://example.com?q=1").path, "/?q=1");
  assert.equal(parseAbsoluteTarget("http://example.com/p#frag").path, "/p");
  assert.equal(parseAbsoluteTarget("HTTP://Example.com:8080/").authority, "Example.com:8080");
  assert.equal(parseAbsoluteTarget("ws://h:81/ws").port, 81);
  assert.deepEqual(parseAbsoluteTarget("http://[::1]:8080/x"), {
    host: "::1",
    port: 8080,
    authority: "[::1]:8080",
    path: "/x",
  });
  // Userinfo is not part of the authority dialed.
  assert.equal(parseAbsoluteTarget("http://user:pw@host.example/").host, "host.example");
  assert.equal(parseAbsoluteTarget("http://a@b@host.example/").host, "host.example");
});

Deno.test("parseAbsoluteTarget() rejects other schemes, origin-form and hostless URLs", () => {
  throwsHttp(() => parseAbsoluteTarget("/path"), 400, /this is a proxy/);
  throwsHttp(() => parseAbsoluteTarget("*"), 400, /invalid request target/);
  throwsHttp(() => parseAbsoluteTarget("example.com:443"), 400, /invalid request target/);
  throwsHttp(() => parseAbsoluteTarget("https://example.com/"), 400, /use CONNECT for https/);
  throwsHttp(() => parseAbsoluteTarget("ftp://example.com/"), 400, /scheme ftp/);
  throwsHttp(() => parseAbsoluteTarget("http:///path"), 400, /no host/);
  throwsHttp(() => parseAbsoluteTarget("http://user@/"), 400, /no host/);
  throwsHttp(() => parseAbsoluteTarget("http://a:0/"), 400, /invalid port 0/);
  throwsHttp(() => parseAbsoluteTarget("http://a:70000/"), 400, /invalid port 70000/);
  throwsHttp(() => parseAbsoluteTarget("http://a b/"), 400, /invalid authority/);
  throwsHttp(() => parseAbsoluteTarget("http://a:b/"), 400, /invalid authority/);
  throwsHttp(() => parseAbsoluteTarget("http://[zz]/"), 400, /invalid authority/);
});

Deno.test("parseAuthority() accepts host:port and [v6]:port", () => {
  assert.deepEqual(parseAuthority("example.com:443"), {
    host: "example.com",
    port: 443,
    authority: "example.com:443",
    path: "",
  });
  assert.equal(parseAuthority("[2001:db8::1]:443").authority, "[2001:db8::1]:443");
  assert.equal(parseAuthority("1.2.3.4:65535").port, 65535);
  assert.equal(parseAuthority("h", 80).port, 80);
});

Deno.test("parseAuthority() rejects bad ports, missing ports and junk", () => {
  throwsHttp(() => parseAuthority("example.com"), 400, /missing port/);
  throwsHttp(() => parseAuthority("example.com:"), 400, /invalid authority/);
  throwsHttp(() => parseAuthority("example.com:0"), 400, /invalid port 0/);
  throwsHttp(() => parseAuthority("example.com:65536"), 400, /invalid port 65536/);
  throwsHttp(() => parseAuthority("example.com:99999"), 400, /invalid port/);
  throwsHttp(() => parseAuthority("example.com:123456"), 400, /invalid authority/);
  throwsHttp(() => parseAuthority("example.com:-1"), 400, /invalid authority/);
  throwsHttp(() => parseAuthority("user@example.com:443"), 400, /invalid authority/);
  throwsHttp(() => parseAuthority("example.com:443/path"), 400, /invalid authority/);
  throwsHttp(() => parseAuthority("::1:443"), 400, /invalid authority/);
  throwsHttp(() => parseAuthority("[::1]"), 400, /missing port/);
  throwsHttp(() => parseAuthority("exa mple:80"), 400, /invalid authority/);
  throwsHttp(() => parseAuthority(""), 400, /invalid authority/);
  throwsHttp(() => parseAuthority("a".repeat(254) + ":80"), 400, /too long/);
});
