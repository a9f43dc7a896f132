import assert from "node:assert/strict";
import { kill, query, sleep, wake } from "./handlers.ts";
import { createFakeProvider } from "./fake_provider.ts";

const MIN = 60_000;
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

Deno.test("wake() scales a stopped service to 1 and reports waking", async () => {
  const provider = createFakeProvider();
  assert.deepEqual(await wake({ provider }), {
    status: "waking",
    desiredCount: 1,
    runningCount: 0,
  });
  assert.equal(provider.state.desiredCount, 1);
  assert.deepEqual(provider.calls, ["describe", "scale(1)"]);
});

Deno.test("wake() on a pending service reports starting without scaling", async () => {
  const provider = createFakeProvider();
  provider.state.desiredCount = 1;
  provider.state.pendingCount = 1;
  assert.deepEqual(await wake({ provider }), {
    status: "starting",
    desiredCount: 1,
    runningCount: 0,
  });
  assert.deepEqual(provider.calls, ["describe"]);
});

Deno.test("wake() on a running service reports already_running", async () => {
  const provider = createFakeProvider();
  provider.markRunning(T0);
  assert.deepEqual(await wake({ provider }), {
    status: "already_running",
    desiredCount: 1,
    runningCount: 1,
  });
  assert.equal(provider.starts, 0);
});

Deno.test("wake() called concurrently many times starts exactly one server", async () => {
  const provider = createFakeProvider({ delay: 3 });
  const results = await Promise.all(Array.from({ length: 20 }, () => wake({ provider })));
  assert.equal(provider.starts, 1);
  assert.equal(provider.state.desiredCount, 1);
  for (const r of results) {
    assert.equal(r.desiredCount, 1);
    assert.ok(["waking", "starting"].includes(r.status));
  }
  // and again once it is up
  provider.markRunning(T0);
  const again = await Promise.all(Array.from({ length: 5 }, () => wake({ provider })));
  assert.ok(again.every((r) => r.status === "already_running"));
  assert.equal(provider.starts, 1);
});

Deno.test("wake() propagates provider errors", async () => {
  const provider = createFakeProvider();
  provider.failWith.describe = new Error("boom");
  await assert.rejects(wake({ provider }), /boom/);
});

Deno.test("query() reports stopped, starting and running with the address", async () => {
  const provider = createFakeProvider();
  assert.deepEqual(await query({ provider }), { status: "stopped", publicIp: null, port: 8443 });
  await wake({ provider });
  assert.deepEqual(await query({ provider }), { status: "starting", publicIp: null, port: 8443 });
  provider.markRunning(T0, "198.51.100.7");
  assert.deepEqual(await query({ provider }), {
    status: "running",
    publicIp: "198.51.100.7",
    port: 8443,
  });
});

Deno.test("query() reports a running server without an IP yet as starting", async () => {
  const provider = createFakeProvider();
  provider.markRunning(T0);
  provider.state.publicIp = null;
  assert.deepEqual(await query({ provider }), { status: "starting", publicIp: null, port: 8443 });
});

Deno.test("kill() scales to 0", async () => {
  const provider = createFakeProvider();
  provider.markRunning(T0);
  assert.deepEqual(await kill({ provider }), { status: "killed", desiredCount: 0 });
  assert.equal(provider.state.desiredCount, 0);
  assert.deepEqual(await query({ provider }), { status: "stopped", publicIp: null, port: 8443 });
  // idempotent
  assert.deepEqual(await kill({ provider }), { status: "killed", desiredCount: 0 });
});

Deno.test("sleep() on a stopped service reports already_stopped", async () => {
  const provider = createFakeProvider();
  const r = await sleep({ provider, now: () => T0 });
  assert.equal(r.action, "already_stopped");
  assert.ok(!provider.calls.includes("scale(0)"));
});

Deno.test("sleep() keeps a starting server", async () => {
  const provider = createFakeProvider();
  await wake({ provider });
  const r = await sleep({ provider, now: () => T0 });
  assert.equal(r.action, "kept");
  assert.match(r.reason, /starting/);
});

Deno.test("sleep() keeps an idle server within the grace period after wake", async () => {
  const provider = createFakeProvider();
  provider.markRunning(T0);
  provider.state.activity = { activeConnections: 0, lastActivityEpochSeconds: T0 / 1000 - 3600 };
  const r = await sleep({ provider, now: () => T0 + 9 * MIN });
  assert.equal(r.action, "kept");
  assert.match(r.reason, /grace period/);
  assert.ok(!provider.calls.includes("activity"), "grace is decided without metrics");
});

Deno.test("sleep() honours a custom grace period", async () => {
  const provider = createFakeProvider();
  provider.markRunning(T0);
  provider.state.activity = { activeConnections: 0, lastActivityEpochSeconds: null };
  const r = await sleep({ provider, now: () => T0 + 20 * MIN, graceMinutes: 30 });
  assert.equal(r.action, "kept");
  assert.match(r.reason, /30 min grace/);
});

Deno.test("sleep() keeps a server with active connections however old its last activity", async () => {
  const provider = createFakeProvider();
  provider.markRunning(T0);
  provider.state.activity = { activeConnections: 2, lastActivityEpochSeconds: T0 / 1000 };
  const r = await sleep({ provider, now: () => T0 + 300 * MIN });
  assert.equal(r.action, "kept");
  assert.match(r.reason, /2 active connection/);
  assert.equal(provider.state.desiredCount, 1);
});

Deno.test("sleep() keeps a server with recent activity", async () => {
  const provider = createFakeProvider();
  provider.markRunning(T0);
  const now = T0 + 60 * MIN;
  provider.state.activity = {
    activeConnections: 0,
    lastActivityEpochSeconds: (now - 14 * MIN) / 1000,
  };
  const r = await sleep({ provider, now: () => now });
  assert.equal(r.action, "kept");
  assert.match(r.reason, /idle 14 min/);
});

Deno.test("sleep() scales down after idle_minutes with no connections", async () => {
  const provider = createFakeProvider();
  provider.markRunning(T0);
  const now = T0 + 60 * MIN;
  provider.state.activity = {
    activeConnections: 0,
    lastActivityEpochSeconds: (now - 15 * MIN) / 1000,
  };
  const r = await sleep({ provider, now: () => now });
  assert.equal(r.action, "scaled_down");
  assert.match(r.reason, /idle 15 min/);
  assert.equal(provider.state.desiredCount, 0);
});

Deno.test("sleep() honours a custom idle_minutes", async () => {
  const provider = createFakeProvider();
  provider.markRunning(T0);
  const now = T0 + 60 * MIN;
  provider.state.activity = {
    activeConnections: 0,
    lastActivityEpochSeconds: (now - 6 * MIN) / 1000,
  };
  assert.equal((await sleep({ provider, now: () => now, idleMinutes: 5 })).action, "scaled_down");
});

Deno.test("sleep() counts a server with no metrics as idle since it started", async () => {
  const provider = createFakeProvider();
  provider.markRunning(T0);
  provider.state.activity = { activeConnections: null, lastActivityEpochSeconds: null };
  const kept = await sleep({ provider, now: () => T0 + 12 * MIN });
  assert.equal(kept.action, "kept");
  assert.match(kept.reason, /no activity recorded/);
  const down = await sleep({ provider, now: () => T0 + 15 * MIN });
  assert.equal(down.action, "scaled_down");
});

Deno.test("sleep() ignores activity older than the current server's start", async () => {
  const provider = createFakeProvider();
  provider.markRunning(T0);
  // activity from a previous server, long before this one started
  provider.state.activity = { activeConnections: 0, lastActivityEpochSeconds: T0 / 1000 - 86400 };
  assert.equal((await sleep({ provider, now: () => T0 + 11 * MIN })).action, "kept");
  assert.equal((await sleep({ provider, now: () => T0 + 16 * MIN })).action, "scaled_down");
});

Deno.test("sleep() does not scale when the activity lookup fails", async () => {
  const provider = createFakeProvider();
  provider.markRunning(T0);
  provider.failWith.activity = new Error("metrics unavailable");
  await assert.rejects(sleep({ provider, now: () => T0 + 60 * MIN }), /metrics unavailable/);
  assert.equal(provider.state.desiredCount, 1);
});
