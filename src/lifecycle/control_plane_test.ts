import assert from "node:assert/strict";
import { startControlPlane } from "./control_plane.ts";
import { createFakeProvider } from "./fake_provider.ts";
import { createLifecycleClient } from "./client.ts";
import { memoryLogger, silentLogger } from "../log/logger.ts";

const KEY = "cp-test-key-0123456789";

Deno.test("control plane over real HTTP: 403 without the key, 200 with it", async () => {
  const provider = createFakeProvider();
  const logger = memoryLogger();
  const cp = await startControlPlane({
    listen: "127.0.0.1:0",
    apiKey: KEY,
    provider,
    logger,
    sleepIntervalMs: 0,
  });
  try {
    assert.match(cp.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const noKey = await fetch(`${cp.url}/wake`, { method: "POST", body: "{}" });
    assert.equal(noKey.status, 403);
    assert.deepEqual(await noKey.json(), { message: "Forbidden" });
    const badKey = await fetch(`${cp.url}/wake`, { method: "POST", headers: { "x-api-key": "x" } });
    assert.equal(badKey.status, 403);
    await badKey.body?.cancel();
    assert.equal(provider.calls.length, 0);

    const ok = await fetch(`${cp.url}/wake`, {
      method: "POST",
      headers: { "x-api-key": KEY, "content-type": "application/json" },
      body: "{}",
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get("content-type"), "application/json");
    assert.deepEqual(await ok.json(), { status: "waking", desiredCount: 1, runningCount: 0 });

    const get = await fetch(`${cp.url}/query`, { headers: { "x-api-key": KEY } });
    assert.equal(get.status, 405);
    await get.body?.cancel();
    const missing = await fetch(`${cp.url}/nope`, {
      method: "POST",
      headers: { "x-api-key": KEY },
    });
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
    assert.ok(!logger.lines.join("\n").includes(KEY), "the API key never reaches the logs");
  } finally {
    await cp.close();
  }
});

Deno.test("control plane serves the agent's lifecycle client end to end", async () => {
  const provider = createFakeProvider({ port: 4443 });
  const cp = await startControlPlane({
    listen: "127.0.0.1:0",
    apiKey: KEY,
    provider,
    logger: silentLogger(),
    sleepIntervalMs: 0,
  });
  try {
    const client = createLifecycleClient({ url: cp.url, apiKey: KEY });
    assert.equal((await client.wake()).status, "waking");
    provider.markRunning(Date.now(), "127.0.0.1");
    assert.deepEqual(await client.query(), {
      status: "running",
      publicIp: "127.0.0.1",
      port: 4443,
    });
    assert.deepEqual(await client.kill(), { status: "killed", desiredCount: 0 });
    const wrong = createLifecycleClient({ url: cp.url, apiKey: "wrong" });
    await assert.rejects(wrong.wake(), /refused the API key \(403 Forbidden\)/);
  } finally {
    await cp.close();
  }
});

Deno.test("control plane runs the sleep schedule", async () => {
  const provider = createFakeProvider();
  const ran = Promise.withResolvers<void>();
  const describe = provider.describe;
  provider.describe = () => {
    ran.resolve();
    return describe();
  };
  const cp = await startControlPlane({
    listen: "127.0.0.1:0",
    apiKey: KEY,
    provider,
    logger: silentLogger(),
    sleepIntervalMs: 5,
  });
  await ran.promise;
  await cp.close();
  assert.ok(provider.calls.includes("describe"));
});

Deno.test("startControlPlane() rejects an address in use with a clear message", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    await assert.rejects(
      startControlPlane({
        listen: `127.0.0.1:${l.addr.port}`,
        apiKey: KEY,
        provider: createFakeProvider(),
        logger: silentLogger(),
      }),
      /cannot listen on 127\.0\.0\.1:\d+/,
    );
  } finally {
    l.close();
  }
});
