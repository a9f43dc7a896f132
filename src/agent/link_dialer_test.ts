import assert from "node:assert/strict";
import { makeTestPki } from "../certs/test_pki.ts";
import { silentLogger } from "../log/logger.ts";
import { dialLink, LinkDialError } from "./link_dialer.ts";

Deno.test("dialLink() gives up on a server that accepts TCP but never answers TLS", async () => {
  const pki = await makeTestPki();
  const deaf = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  (async () => {
    for await (const c of deaf) held.push(c);
  })().catch(() => {});
  try {
    const t0 = Date.now();
    await assert.rejects(
      dialLink("127.0.0.1", deaf.addr.port, {
        serverName: "fluidity-server",
        pems: { cert: pki.agent.certPem, key: pki.agent.keyPem, ca: pki.ca.certPem },
        connectTimeoutMs: 300,
        link: {
          streamWindow: 65536,
          linkWindow: 262144,
          linkWindowMax: 262144,
          streamWindowMax: 65536,
          maxFrameSize: 65536,
          maxStreams: 10,
          keepaliveIntervalMs: 0,
          keepaliveTimeoutMs: 1000,
          idleStreamTimeoutMs: 0,
        },
        logger: silentLogger(),
      }),
      (e: unknown) => e instanceof LinkDialError && /no TLS handshake within 0\.3s/.test(e.message),
    );
    assert.ok(Date.now() - t0 >= 250, "gave up before the timeout");
  } finally {
    deaf.close();
    for (const c of held) c.close();
  }
});
