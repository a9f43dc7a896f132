import assert from "node:assert/strict";
import { parseRequestHead } from "../http/head.ts";
import {
  basicAuthorizer,
  createCredentialCheck,
  isLoopbackHost,
  md5Crypt,
  parseBasicCredentials,
} from "./proxy_auth.ts";

Deno.test("md5Crypt() matches openssl passwd -apr1 and -1", () => {
  // openssl passwd -apr1 -salt abcdefgh s3cret ; openssl passwd -1 -salt xyz pässword
  assert.equal(md5Crypt("s3cret", "abcdefgh"), "$apr1$abcdefgh$M2T3erDstkD7SsE2QQnfH0");
  assert.equal(md5Crypt("pässword", "xyz", "$1$"), "$1$xyz$tJmlC81LOaDVBYRoxBUom/");
});

Deno.test("createCredentialCheck() accepts users entries and htpasswd lines", () => {
  const check = createCredentialCheck(["alice:wonder:land"], {
    path: "users.htpasswd",
    text: "# comment\n\nbob:{SHA}87u9ZqY9S/F0eUBXjsPQEDUw4h0=\r\n" +
      "carol:$apr1$abcdefgh$M2T3erDstkD7SsE2QQnfH0\ndave:plain\n",
  })!;
  assert.ok(check("alice", "wonder:land"));
  assert.ok(check("bob", "hunter2"));
  assert.ok(check("carol", "s3cret"));
  assert.ok(check("dave", "plain"));
  assert.ok(!check("alice", "wonder"));
  assert.ok(!check("bob", "hunter3"));
  assert.ok(!check("carol", "S3cret"));
  assert.ok(!check("eve", "plain"));
  assert.equal(createCredentialCheck([]), undefined);
});

Deno.test("createCredentialCheck() refuses malformed entries and unsupported hashes", () => {
  assert.throws(() => createCredentialCheck(["nocolon"]), /proxy_auth.users entry 1/);
  assert.throws(
    () => createCredentialCheck([], { path: "f", text: "ok:1\ncarol:$2y$05$abcdefghijk" }),
    /f line 2: this password hash type \(2y\) is not supported/,
  );
  assert.throws(() => createCredentialCheck([], { path: "f", text: "junk" }), /f line 1/);
});

Deno.test("basicAuthorizer() checks Proxy-Authorization: Basic", () => {
  const authorize = basicAuthorizer(createCredentialCheck(["alice:pw"])!);
  const head = (extra: string) =>
    parseRequestHead(
      new TextEncoder().encode(`GET http://x/ HTTP/1.1\r\nHost: x\r\n${extra}\r\n`),
    );
  assert.ok(authorize(head(`Proxy-Authorization: Basic ${btoa("alice:pw")}\r\n`)));
  assert.ok(authorize(head(`proxy-authorization: basic  ${btoa("alice:pw")}\r\n`)));
  assert.ok(!authorize(head(`Proxy-Authorization: Basic ${btoa("alice:px")}\r\n`)));
  assert.ok(!authorize(head(`Authorization: Basic ${btoa("alice:pw")}\r\n`)));
  assert.ok(!authorize(head(`Proxy-Authorization: Bearer abc\r\n`)));
  assert.ok(!authorize(head("")));
  assert.equal(parseBasicCredentials("Basic !!!"), undefined);
  assert.deepEqual(parseBasicCredentials(`Basic ${btoa("u:")}`), { user: "u", password: "" });
});

Deno.test("isLoopbackHost() knows loopback listen hosts", () => {
  for (const h of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"]) {
    assert.ok(isLoopbackHost(h), h);
  }
  for (const h of ["0.0.0.0", "::", "192.168.1.2", "10.0.0.1"]) assert.ok(!isLoopbackHost(h), h);
});
