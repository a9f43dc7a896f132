/**
 * SSRF: with the default policy the server refuses loopback, link-local
 * (cloud metadata), private and unspecified targets, checked on resolved
 * addresses, with a clear 403 proxy error. Refusals happen before any
 * connection is attempted, so no packet leaves for these addresses.
 */
import assert from "node:assert/strict";
import { startTunnel } from "./helpers/tunnel.ts";
import { rawExchange, startHttpOrigin } from "./helpers/origins.ts";

Deno.test("ssrf: private, loopback and metadata targets are refused by default with 403", async () => {
  const origin = await startHttpOrigin(); // a real loopback service that must stay unreachable
  const t = await startTunnel({ allowPrivateTargets: false });
  try {
    const p = origin.port;
    const cases: Array<[string, string]> = [
      ["loopback IPv4", `GET http://127.0.0.1:${p}/echo HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`],
      ["other loopback", `GET http://127.1.2.3:${p}/echo HTTP/1.1\r\nHost: x\r\n\r\n`],
      [
        "name resolving to loopback",
        `GET http://localhost:${p}/echo HTTP/1.1\r\nHost: localhost\r\n\r\n`,
      ],
      [
        "cloud metadata",
        "GET http://169.254.169.254/latest/meta-data/ HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n",
      ],
      ["IPv6 loopback", `GET http://[::1]:${p}/echo HTTP/1.1\r\nHost: x\r\n\r\n`],
      [
        "IPv4-mapped IPv6 loopback",
        `GET http://[::ffff:127.0.0.1]:${p}/echo HTTP/1.1\r\nHost: x\r\n\r\n`,
      ],
      ["unspecified", `GET http://0.0.0.0:${p}/echo HTTP/1.1\r\nHost: x\r\n\r\n`],
      ["CONNECT to loopback", `CONNECT 127.0.0.1:${p} HTTP/1.1\r\nHost: x\r\n\r\n`],
      ["CONNECT to metadata", "CONNECT 169.254.169.254:80 HTTP/1.1\r\nHost: x\r\n\r\n"],
    ];
    for (const [name, req] of cases) {
      const res = await rawExchange(t.proxyUrl, req);
      assert.match(res, /^HTTP\/1\.1 403 Forbidden\r\n/, `${name}: ${res.slice(0, 200)}`);
      assert.match(res, /Fluidity-Error: forbidden/, name);
      assert.match(res, /refused by policy/, name);
      assert.match(res, /allow_private_targets/, `${name}: the message says how to allow it`);
    }
    assert.ok(t.server.stderr.some((l) => /stream refused/.test(l)));
  } finally {
    await t.close();
    await origin.close();
  }
});
