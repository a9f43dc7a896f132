import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import { discoverServer, DiscoveryTimeoutError } from "./discovery.ts";
import { type LifecycleClient, LifecycleError } from "./client.ts";
import type { QueryResponse, WakeResponse } from "./types.ts";

function fakeClock() {
  const clock = FakeTimers.createClock(1_000_000);
  const sleeps: number[] = [];
  const sleep = (ms: number, signal?: AbortSignal) =>
    new Promise<void>((resolve, reject) => {
      sleeps.push(ms);
      if (signal?.aborted) return reject(signal.reason);
      const id = clock.setTimeout(() => resolve(), ms);
      signal?.addEventListener("abort", () => {
        clock.clearTimeout(id);
        reject(signal.reason);
      }, { once: true });
    });
  return { clock, sleeps, sleep, now: () => clock.now };
}

type Q = QueryResponse | Error;

function scriptedClient(
  queries: Q[] | ((n: number) => Q),
  wakes: Array<WakeResponse | Error> = [],
) {
  const calls: string[] = [];
  let n = 0;
  const client: LifecycleClient = {
    wake() {
      calls.push("wake");
      const w = wakes.shift() ?? { status: "waking", desiredCount: 1, runningCount: 0 };
      return w instanceof Error ? Promise.reject(w) : Promise.resolve(w);
    },
    query() {
      calls.push("query");
      const q = typeof queries === "function" ? queries(n++) : queries.shift();
      if (q === undefined) return Promise.reject(new Error("script exhausted"));
      return q instanceof Error ? Promise.reject(q) : Promise.resolve(q);
    },
    kill() {
      calls.push("kill");
      return Promise.resolve({ status: "killed", desiredCount: 0 });
    },
  };
  return { client, calls };
}

const starting: QueryResponse = { status: "starting", publicIp: null, port: 8443 };
const running: QueryResponse = { status: "running", publicIp: "203.0.113.9", port: 8443 };

Deno.test("discoverServer() wakes, polls with doubling capped delays, returns the address", async () => {
  const t = fakeClock();
  const { client, calls } = scriptedClient([
    starting,
    starting,
    starting,
    starting,
    starting,
    starting,
    running,
  ]);
  const p = discoverServer(client, {
    wakeTimeoutMs: 180_000,
    now: t.now,
    sleep: t.sleep,
    initialPollMs: 500,
    maxPollMs: 5000,
  });
  await t.clock.runAllAsync();
  assert.deepEqual(await p, { host: "203.0.113.9", port: 8443 });
  // the first sleep is the deadline, the rest are polls
  assert.deepEqual(t.sleeps, [180_000, 500, 1000, 2000, 4000, 5000, 5000]);
  assert.equal(t.clock.countTimers(), 0, "the deadline timer is cancelled");
  assert.deepEqual(calls, ["wake", ...Array(7).fill("query")]);
});

Deno.test("discoverServer() returns at once when the server is already running", async () => {
  const t = fakeClock();
  const { client } = scriptedClient([running]);
  const r = await discoverServer(client, { wakeTimeoutMs: 1000, now: t.now, sleep: t.sleep });
  assert.deepEqual(r, { host: "203.0.113.9", port: 8443 });
  assert.deepEqual(t.sleeps, [1000]);
  assert.equal(t.clock.countTimers(), 0);
});

Deno.test("discoverServer() treats running without an IP as not ready", async () => {
  const t = fakeClock();
  const { client } = scriptedClient([
    { status: "running", publicIp: null, port: 8443 },
    { status: "running", publicIp: "198.51.100.1", port: 9000 },
  ]);
  const p = discoverServer(client, { wakeTimeoutMs: 60_000, now: t.now, sleep: t.sleep });
  await t.clock.runAllAsync();
  assert.deepEqual(await p, { host: "198.51.100.1", port: 9000 });
});

Deno.test("discoverServer() throws DiscoveryTimeoutError after wakeTimeoutMs", async () => {
  const t = fakeClock();
  const { client, calls } = scriptedClient(() => starting);
  const p = discoverServer(client, {
    wakeTimeoutMs: 20_000,
    now: t.now,
    sleep: t.sleep,
  });
  const check = assert.rejects(p, (e) => {
    assert.ok(e instanceof DiscoveryTimeoutError);
    assert.equal(e.lastStatus, "starting");
    assert.match(e.message, /no running server after 20s \(last status: starting\)/);
    return true;
  });
  await t.clock.runAllAsync();
  await check;
  // 500+1000+2000+4000+5000+5000 = 17500, then the 2500 left
  assert.deepEqual(t.sleeps, [20_000, 500, 1000, 2000, 4000, 5000, 5000, 2500]);
  assert.equal(t.clock.now - 1_000_000, 20_000);
  assert.equal(calls.filter((c) => c === "query").length, 7);
});

Deno.test("discoverServer() stays bounded with a frozen clock", async () => {
  const polls: number[] = [];
  const { client } = scriptedClient(() => starting);
  await assert.rejects(
    discoverServer(client, {
      wakeTimeoutMs: 10_000,
      now: () => 0,
      // polls return at once; the deadline timer never fires on its own
      sleep: (ms, signal) => {
        if (ms >= 10_000) {
          return new Promise((_, reject) =>
            signal?.addEventListener("abort", () => reject(signal.reason), { once: true })
          );
        }
        polls.push(ms);
        return Promise.resolve();
      },
    }),
    DiscoveryTimeoutError,
  );
  assert.equal(polls.reduce((a, b) => a + b, 0), 10_000);
});

Deno.test("discoverServer() times out at the deadline even while a call hangs", async () => {
  const t = fakeClock();
  let aborted = false;
  const client: LifecycleClient = {
    wake: () => Promise.resolve({ status: "waking", desiredCount: 1, runningCount: 0 }),
    query: (signal) =>
      new Promise((_, reject) =>
        signal?.addEventListener("abort", () => {
          aborted = true;
          reject(signal.reason);
        }, { once: true })
      ),
    kill: () => Promise.resolve({ status: "killed", desiredCount: 0 }),
  };
  const p = discoverServer(client, { wakeTimeoutMs: 5000, now: t.now, sleep: t.sleep });
  const check = assert.rejects(p, (e) => {
    assert.ok(e instanceof DiscoveryTimeoutError);
    assert.equal(e.lastStatus, "unknown");
    return true;
  });
  await t.clock.runAllAsync();
  await check;
  assert.ok(aborted, "the hung call was aborted");
  assert.equal(t.clock.now - 1_000_000, 5000);
});

Deno.test("discoverServer() wakes again when the server reports stopped", async () => {
  const t = fakeClock();
  const { client, calls } = scriptedClient([starting, { ...starting, status: "stopped" }, running]);
  const p = discoverServer(client, { wakeTimeoutMs: 60_000, now: t.now, sleep: t.sleep });
  await t.clock.runAllAsync();
  await p;
  assert.deepEqual(calls, ["wake", "query", "query", "wake", "query"]);
});

Deno.test("discoverServer() retries transient lifecycle errors until the deadline", async () => {
  const t = fakeClock();
  const transient = new LifecycleError("lifecycle wake failed after 6 attempts: 503", {
    transient: true,
    status: 503,
  });
  const { client, calls } = scriptedClient(
    [new LifecycleError("unreachable", { transient: true }), running],
    [transient],
  );
  const p = discoverServer(client, { wakeTimeoutMs: 60_000, now: t.now, sleep: t.sleep });
  await t.clock.runAllAsync();
  assert.deepEqual(await p, { host: "203.0.113.9", port: 8443 });
  assert.deepEqual(calls, ["wake", "wake", "query", "query"]);
});

Deno.test("discoverServer() fails at once on a non-transient error (wrong API key)", async () => {
  const t = fakeClock();
  const forbidden = new LifecycleError("lifecycle API refused the API key (403 Forbidden)", {
    transient: false,
    status: 403,
  });
  const { client, calls } = scriptedClient([running], [forbidden]);
  await assert.rejects(
    discoverServer(client, { wakeTimeoutMs: 60_000, now: t.now, sleep: t.sleep }),
    (e) => e === forbidden,
  );
  assert.deepEqual(calls, ["wake"]);
  assert.deepEqual(t.sleeps, [60_000], "only the deadline timer, then cancelled");
  assert.equal(t.clock.countTimers(), 0);
});

Deno.test("discoverServer() timing out after transient errors keeps the cause", async () => {
  const t = fakeClock();
  const err = new LifecycleError("unreachable", { transient: true });
  const { client } = scriptedClient(() => err);
  const p = discoverServer(client, { wakeTimeoutMs: 3000, now: t.now, sleep: t.sleep });
  const check = assert.rejects(p, (e) => {
    assert.ok(e instanceof DiscoveryTimeoutError);
    assert.equal(e.lastStatus, "unknown");
    assert.equal(e.cause, err);
    return true;
  });
  await t.clock.runAllAsync();
  await check;
});

Deno.test("discoverServer() stops when the signal aborts mid-wait", async () => {
  const t = fakeClock();
  const ctrl = new AbortController();
  const { client } = scriptedClient(() => starting);
  const p = discoverServer(client, {
    wakeTimeoutMs: 180_000,
    now: t.now,
    sleep: t.sleep,
    signal: ctrl.signal,
  });
  const check = assert.rejects(p, /agent stopping/);
  await t.clock.tickAsync(1200);
  ctrl.abort(new Error("agent stopping"));
  await check;
  assert.equal(t.clock.countTimers(), 0);
});
