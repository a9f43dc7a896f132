import assert from "node:assert/strict";
import { createLifecycleClient, LifecycleError } from "./client.ts";
import { memoryLogger } from "../log/logger.ts";

const KEY = "k-123456";

type Step = Response | Error | ((req: Request) => Response);

function fakeFetch(steps: Step[]) {
  const requests: Request[] = [];
  const fn = (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const req = new Request(input, init);
    requests.push(req);
    const step = steps.shift();
    if (step === undefined) return Promise.reject(new Error("no more scripted responses"));
    if (step instanceof Error) return Promise.reject(step);
    return Promise.resolve(typeof step === "function" ? step(req) : step);
  };
  return { fetch: fn as typeof fetch, requests };
}

function json(status: number, body: unknown, headers: Record<string, string> = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

function recorder() {
  const delays: number[] = [];
  return { delays, sleep: (ms: number) => (delays.push(ms), Promise.resolve()) };
}

Deno.test("client.wake() POSTs {url}/wake with x-api-key and returns the body", async () => {
  const f = fakeFetch([json(200, { status: "waking", desiredCount: 1, runningCount: 0 })]);
  const c = createLifecycleClient({ url: "http://127.0.0.1:8787/", apiKey: KEY, fetch: f.fetch });
  assert.deepEqual(await c.wake(), { status: "waking", desiredCount: 1, runningCount: 0 });
  const req = f.requests[0]!;
  assert.equal(req.method, "POST");
  assert.equal(req.url, "http://127.0.0.1:8787/wake");
  assert.equal(req.headers.get("x-api-key"), KEY);
  assert.equal(req.headers.get("content-type"), "application/json");
});

Deno.test("client keeps an API Gateway stage path in the URL", async () => {
  const f = fakeFetch([
    json(200, { status: "stopped", publicIp: null, port: 8443 }),
    json(200, { status: "killed", desiredCount: 0 }),
  ]);
  const c = createLifecycleClient({
    url: "https://abc.execute-api.us-east-1.amazonaws.com/prod",
    apiKey: KEY,
    fetch: f.fetch,
  });
  assert.equal((await c.query()).status, "stopped");
  assert.deepEqual(await c.kill(), { status: "killed", desiredCount: 0 });
  assert.equal(f.requests[0]!.url, "https://abc.execute-api.us-east-1.amazonaws.com/prod/query");
  assert.equal(f.requests[1]!.url, "https://abc.execute-api.us-east-1.amazonaws.com/prod/kill");
});

Deno.test("client retries network errors, 5xx and 429 with exponential backoff and full jitter", async () => {
  const f = fakeFetch([
    new TypeError("connection refused"),
    json(502, { message: "Bad Gateway" }),
    json(500, { message: "boom" }),
    json(429, { message: "Too Many Requests" }),
    json(200, { status: "running", publicIp: "127.0.0.1", port: 4000 }),
  ]);
  const r = recorder();
  const log = memoryLogger();
  const c = createLifecycleClient({
    url: "http://cp",
    apiKey: KEY,
    fetch: f.fetch,
    sleep: r.sleep,
    random: () => 0.5,
    logger: log,
  });
  assert.deepEqual(await c.query(), { status: "running", publicIp: "127.0.0.1", port: 4000 });
  assert.equal(f.requests.length, 5);
  // ceilings 250, 500, 1000, 2000 × 0.5
  assert.deepEqual(r.delays, [125, 250, 500, 1000]);
  assert.ok(!log.lines.join("\n").includes(KEY));
});

Deno.test("client backoff is capped and the jitter spans [0, ceiling)", async () => {
  const steps: Step[] = Array.from({ length: 8 }, () => json(503, {}));
  const f = fakeFetch(steps);
  const r = recorder();
  const c = createLifecycleClient({
    url: "http://cp",
    apiKey: KEY,
    fetch: f.fetch,
    sleep: r.sleep,
    random: () => 0.999999,
    retries: 7,
    backoffInitialMs: 1000,
    backoffMaxMs: 4000,
  });
  await assert.rejects(c.wake(), LifecycleError);
  assert.deepEqual(r.delays, [999, 1999, 3999, 3999, 3999, 3999, 3999]);
  const r0 = recorder();
  const c0 = createLifecycleClient({
    url: "http://cp",
    apiKey: KEY,
    fetch: fakeFetch([json(503, {}), json(200, { status: "killed", desiredCount: 0 })]).fetch,
    sleep: r0.sleep,
    random: () => 0,
  });
  await c0.kill();
  assert.deepEqual(r0.delays, [0]);
});

Deno.test("client honours Retry-After on 429 and 503", async () => {
  const f = fakeFetch([
    json(503, { message: "throttled" }, { "retry-after": "3" }),
    json(200, { status: "killed", desiredCount: 0 }),
  ]);
  const r = recorder();
  const c = createLifecycleClient({
    url: "http://cp",
    apiKey: KEY,
    fetch: f.fetch,
    sleep: r.sleep,
    random: () => 0,
  });
  await c.kill();
  assert.deepEqual(r.delays, [3000]);
});

Deno.test("client gives up after `retries` with a transient LifecycleError", async () => {
  const f = fakeFetch(Array.from({ length: 3 }, () => new TypeError("connection refused")));
  const r = recorder();
  const c = createLifecycleClient({
    url: "http://cp",
    apiKey: KEY,
    fetch: f.fetch,
    sleep: r.sleep,
    retries: 2,
  });
  await assert.rejects(c.wake(), (e) => {
    assert.ok(e instanceof LifecycleError);
    assert.equal(e.transient, true);
    assert.match(e.message, /wake failed after 3 attempts: .*unreachable: connection refused/);
    return true;
  });
  assert.equal(f.requests.length, 3);
  assert.equal(r.delays.length, 2);
});

Deno.test("client fails at once on 403 with a message naming the key", async () => {
  const f = fakeFetch([json(403, { message: "Forbidden" })]);
  const r = recorder();
  const c = createLifecycleClient({
    url: "http://cp",
    apiKey: "wrong",
    fetch: f.fetch,
    sleep: r.sleep,
  });
  await assert.rejects(c.wake(), (e) => {
    assert.ok(e instanceof LifecycleError);
    assert.equal(e.status, 403);
    assert.equal(e.transient, false);
    assert.equal(
      e.message,
      "lifecycle API refused the API key (403 Forbidden): check lifecycle.api_key / --api-key",
    );
    return true;
  });
  assert.equal(f.requests.length, 1);
  assert.deepEqual(r.delays, []);
});

Deno.test("client fails at once on 404 naming the URL, and on other 4xx with the body message", async () => {
  const r = recorder();
  const c404 = createLifecycleClient({
    url: "http://cp/wrong",
    apiKey: KEY,
    fetch: fakeFetch([json(404, { message: "Not Found" })]).fetch,
    sleep: r.sleep,
  });
  await assert.rejects(
    c404.query(),
    /no \/query at http:\/\/cp\/wrong\/query \(404 Not Found\): check lifecycle.url/,
  );
  const c400 = createLifecycleClient({
    url: "http://cp",
    apiKey: KEY,
    fetch: fakeFetch([json(405, { message: "Method GET not allowed" })]).fetch,
    sleep: r.sleep,
  });
  await assert.rejects(c400.kill(), (e) => {
    assert.ok(e instanceof LifecycleError && !e.transient && e.status === 405);
    assert.match(e.message, /rejected kill \(405.*\): Method GET not allowed/);
    return true;
  });
  assert.deepEqual(r.delays, []);
});

Deno.test("client reports invalid JSON in a 200 as a non-transient error", async () => {
  const c = createLifecycleClient({
    url: "http://cp",
    apiKey: KEY,
    fetch: fakeFetch([new Response("<html>captive portal</html>", { status: 200 })]).fetch,
  });
  await assert.rejects(c.wake(), (e) => {
    assert.ok(e instanceof LifecycleError && !e.transient);
    assert.match(e.message, /invalid JSON: <html>captive portal/);
    return true;
  });
});

Deno.test("client times out a hung request and retries it", async () => {
  let calls = 0;
  const hang: typeof fetch = (_input, init) => {
    calls++;
    if (calls === 2) return Promise.resolve(json(200, { status: "killed", desiredCount: 0 }));
    return new Promise((_, reject) => {
      init?.signal?.addEventListener("abort", () => reject(init.signal!.reason), { once: true });
    });
  };
  const r = recorder();
  const c = createLifecycleClient({
    url: "http://cp",
    apiKey: KEY,
    fetch: hang,
    sleep: r.sleep,
    timeoutMs: 1,
  });
  assert.deepEqual(await c.kill(), { status: "killed", desiredCount: 0 });
  assert.equal(calls, 2);
});

Deno.test("client stops retrying when the signal aborts", async () => {
  const ctrl = new AbortController();
  const f = fakeFetch([new TypeError("refused"), new TypeError("refused")]);
  const c = createLifecycleClient({
    url: "http://cp",
    apiKey: KEY,
    fetch: f.fetch,
    sleep: () => {
      ctrl.abort(new Error("shutting down"));
      return Promise.resolve();
    },
  });
  await assert.rejects(c.wake(ctrl.signal), /shutting down/);
  assert.equal(f.requests.length, 1);
});
