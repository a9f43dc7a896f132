import assert from "node:assert/strict";
import { type ApiRequest, handleLifecycleRequest } from "./http_api.ts";
import { createFakeProvider } from "./fake_provider.ts";
import { ProviderError, ProviderThrottledError } from "./types.ts";
import { memoryLogger } from "../log/logger.ts";

const KEY = "s3cret-key-value";

function post(path: string, headers: Record<string, string | undefined> = { "x-api-key": KEY }) {
  return { method: "POST", path, headers, body: "{}" } satisfies ApiRequest;
}

Deno.test("handleLifecycleRequest() serves /wake, /query, /kill with the contract JSON", async () => {
  const provider = createFakeProvider();
  const deps = { provider, apiKey: KEY };
  const w = await handleLifecycleRequest(post("/wake"), deps);
  assert.equal(w.statusCode, 200);
  assert.equal(w.headers["content-type"], "application/json");
  assert.deepEqual(JSON.parse(w.body), { status: "waking", desiredCount: 1, runningCount: 0 });
  const q = await handleLifecycleRequest(post("/query"), deps);
  assert.deepEqual(JSON.parse(q.body), { status: "starting", publicIp: null, port: 8443 });
  const k = await handleLifecycleRequest(post("/kill"), deps);
  assert.deepEqual(JSON.parse(k.body), { status: "killed", desiredCount: 0 });
});

Deno.test("handleLifecycleRequest() accepts a stage prefix, a trailing slash and a query string", async () => {
  const provider = createFakeProvider();
  for (const path of ["/prod/query", "/query/", "/query?x=1", "/prod/query/"]) {
    const r = await handleLifecycleRequest(post(path), { provider, apiKey: KEY });
    assert.equal(r.statusCode, 200, path);
  }
});

Deno.test("handleLifecycleRequest() answers 403 Forbidden without or with a wrong key", async () => {
  const provider = createFakeProvider();
  const log = memoryLogger();
  for (
    const headers of [{}, { "x-api-key": "nope" }, { "x-api-key": "" }, { "x-api-key": KEY + "x" }]
  ) {
    const r = await handleLifecycleRequest(post("/wake", headers), {
      provider,
      apiKey: KEY,
      logger: log,
    });
    assert.equal(r.statusCode, 403);
    assert.deepEqual(JSON.parse(r.body), { message: "Forbidden" });
  }
  assert.equal(provider.calls.length, 0, "the provider is never touched");
  assert.ok(!log.lines.join("\n").includes(KEY), "the key never appears in logs");
});

Deno.test("handleLifecycleRequest() matches the header name case-insensitively", async () => {
  const provider = createFakeProvider();
  const r = await handleLifecycleRequest(post("/query", { "X-Api-Key": KEY }), {
    provider,
    apiKey: KEY,
  });
  assert.equal(r.statusCode, 200);
});

Deno.test("handleLifecycleRequest() skips the key check when apiKey is undefined", async () => {
  const provider = createFakeProvider();
  const r = await handleLifecycleRequest(post("/query", {}), { provider });
  assert.equal(r.statusCode, 200);
});

Deno.test("handleLifecycleRequest() answers 404 for unknown paths and 405 for other methods", async () => {
  const provider = createFakeProvider();
  const deps = { provider, apiKey: KEY };
  for (const path of ["/", "/sleep", "/a/b/wake", "/wakeup", "/prod"]) {
    assert.equal((await handleLifecycleRequest(post(path), deps)).statusCode, 404, path);
  }
  const get = await handleLifecycleRequest({ ...post("/wake"), method: "GET" }, deps);
  assert.equal(get.statusCode, 405);
  assert.equal(get.headers["allow"], "POST");
  assert.equal(provider.calls.length, 0);
});

Deno.test("handleLifecycleRequest() answers 500 with a message on provider errors", async () => {
  const provider = createFakeProvider();
  provider.failWith.describe = new ProviderError('ECS service "s" not found in cluster "c"');
  const r = await handleLifecycleRequest(post("/wake"), { provider, apiKey: KEY });
  assert.equal(r.statusCode, 500);
  assert.match(JSON.parse(r.body).message, /wake failed: ECS service "s" not found/);
});

Deno.test("handleLifecycleRequest() answers 503 with Retry-After when throttled", async () => {
  const provider = createFakeProvider();
  provider.failWith.locate = new ProviderThrottledError("Rate exceeded", { retryAfterSeconds: 3 });
  const r = await handleLifecycleRequest(post("/query"), { provider, apiKey: KEY });
  assert.equal(r.statusCode, 503);
  assert.equal(r.headers["retry-after"], "3");
  assert.match(JSON.parse(r.body).message, /throttled/);
});
