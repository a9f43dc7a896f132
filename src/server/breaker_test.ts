import assert from "node:assert/strict";
import { CircuitBreaker } from "./breaker.ts";
import { startServer } from "./server.ts";
import { DialError } from "./dialer.ts";
import { dialLink } from "../agent/link_dialer.ts";
import { makeTestPki } from "../certs/test_pki.ts";
import { resolveConfig } from "../config/schema.ts";
import { SERVER_FIELDS, serverConfigOf } from "../config/server_config.ts";
import { ResetCode } from "../tunnel/frames.ts";
import { StreamResetError } from "../tunnel/stream.ts";
import { silentLogger } from "../log/logger.ts";

function breaker(failures = 3, cooldownMs = 30_000, maxEntries?: number) {
  const clock = { t: 1_000_000 };
  const b = new CircuitBreaker({ failures, cooldownMs, now: () => clock.t, maxEntries });
  return { b, clock };
}

const A = "a.example:443";
const B = "b.example:443";

Deno.test("CircuitBreaker stays closed below N consecutive failures", () => {
  const { b } = breaker(3);
  b.failure(A);
  b.failure(A);
  assert.deepEqual(b.check(A), { allowed: true, trial: false });
  assert.equal(b.openCount(), 0);
});

Deno.test("CircuitBreaker opens after N failures and fails fast with the time left", () => {
  const { b, clock } = breaker(3, 30_000);
  for (let i = 0; i < 3; i++) b.failure(A);
  assert.deepEqual(b.check(A), { allowed: false, retryInMs: 30_000 });
  clock.t += 12_345;
  assert.deepEqual(b.check(A), { allowed: false, retryInMs: 17_655 });
  assert.equal(b.openCount(), 1);
});

Deno.test("CircuitBreaker success resets the failure count", () => {
  const { b } = breaker(3);
  b.failure(A);
  b.failure(A);
  b.success(A);
  b.failure(A);
  b.failure(A);
  assert.deepEqual(b.check(A), { allowed: true, trial: false });
});

Deno.test("CircuitBreaker half-opens after the cool-down with exactly one trial", () => {
  const { b, clock } = breaker(2, 10_000);
  b.failure(A);
  b.failure(A);
  clock.t += 9_999;
  assert.equal(b.check(A).allowed, false);
  clock.t += 1;
  assert.deepEqual(b.check(A), { allowed: true, trial: true });
  // While the trial runs, everyone else still fails fast.
  for (let i = 0; i < 5; i++) assert.equal(b.check(A).allowed, false);
  clock.t += 60_000;
  assert.equal(b.check(A).allowed, false, "a trial in flight blocks even after more time");
});

Deno.test("CircuitBreaker closes after a successful trial", () => {
  const { b, clock } = breaker(2, 10_000);
  b.failure(A);
  b.failure(A);
  clock.t += 10_000;
  assert.equal(b.check(A).allowed, true);
  b.success(A);
  assert.deepEqual(b.check(A), { allowed: true, trial: false });
  assert.equal(b.openCount(), 0);
  // And needs N fresh failures to open again.
  b.failure(A);
  assert.deepEqual(b.check(A), { allowed: true, trial: false });
});

Deno.test("CircuitBreaker re-opens for a full cool-down after a failed trial", () => {
  const { b, clock } = breaker(2, 10_000);
  b.failure(A);
  b.failure(A);
  clock.t += 10_000;
  assert.deepEqual(b.check(A), { allowed: true, trial: true });
  b.failure(A);
  assert.deepEqual(b.check(A), { allowed: false, retryInMs: 10_000 });
  clock.t += 10_000;
  assert.deepEqual(b.check(A), { allowed: true, trial: true });
});

Deno.test("CircuitBreaker keys are independent", () => {
  const { b } = breaker(2);
  b.failure(A);
  b.failure(A);
  assert.equal(b.check(A).allowed, false);
  assert.deepEqual(b.check(B), { allowed: true, trial: false });
  b.failure(B);
  assert.deepEqual(b.check(B), { allowed: true, trial: false });
  b.success(B);
  assert.equal(b.check(A).allowed, false, "success elsewhere does not close A");
  assert.equal(b.openCount(), 1);
});

Deno.test("CircuitBreaker forgets the oldest targets beyond maxEntries", () => {
  const { b } = breaker(1, 10_000, 3);
  for (const k of ["k1", "k2", "k3"]) b.failure(k);
  assert.equal(b.openCount(), 3);
  b.failure("k4");
  assert.equal(b.openCount(), 3);
  assert.equal(b.check("k1").allowed, true, "k1 was evicted");
  assert.equal(b.check("k4").allowed, false);
  // Bounded whatever the number of distinct keys.
  for (let i = 0; i < 1000; i++) b.failure(`many-${i}`);
  assert.equal(b.openCount(), 3);
});

// ---- the breaker inside the server ----

Deno.test("server: a half-open trial ending in a non-breaker failure does not wedge the target", async () => {
  const pki = await makeTestPki();
  const cfg = serverConfigOf(resolveConfig(SERVER_FIELDS, {
    env: {
      FLUIDITY_LISTEN: "127.0.0.1:0",
      FLUIDITY_HEALTH_LISTEN: "",
      FLUIDITY_BREAKER_FAILURES: "2",
      FLUIDITY_BREAKER_COOLDOWN: "30s",
    },
  }));
  const clock = { t: 1_000_000 };
  // The target refuses twice, then (as the half-open trial) its name stops resolving.
  const outcomes = [ResetCode.REFUSED, ResetCode.REFUSED, ResetCode.DNS, ResetCode.REFUSED];
  let dials = 0;
  const server = await startServer(cfg, {
    logger: silentLogger(),
    pems: { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem },
    now: () => clock.t,
    dialer: () => {
      const code = outcomes[Math.min(dials++, outcomes.length - 1)]!;
      return Promise.reject(new DialError(code, `fake dial failure ${code}`));
    },
  });
  const [host, port] = server.address.split(":");
  const session = await dialLink(host!, Number(port), {
    serverName: "fluidity-server",
    pems: { cert: pki.agent.certPem, key: pki.agent.keyPem, ca: pki.ca.certPem },
    connectTimeoutMs: 5000,
    link: cfg.link,
    logger: silentLogger(),
  });
  const resetCode = async () => {
    const s = session.open("flaky.example:443");
    try {
      await s.opened;
      return -1;
    } catch (e) {
      assert.ok(e instanceof StreamResetError);
      return e.code;
    }
  };
  try {
    assert.equal(await resetCode(), ResetCode.REFUSED);
    assert.equal(await resetCode(), ResetCode.REFUSED);
    assert.equal(await resetCode(), ResetCode.BREAKER_OPEN, "open after 2 failures");
    assert.equal(dials, 2);
    clock.t += 30_000;
    assert.equal(await resetCode(), ResetCode.DNS, "the half-open trial dials");
    assert.equal(dials, 3);
    // However the trial ended, the target must get another chance at some point.
    clock.t += 3_600_000;
    assert.notEqual(
      await resetCode(),
      ResetCode.BREAKER_OPEN,
      "an hour later the target is still failing fast: the trial never ended",
    );
  } finally {
    session.destroy(new Error("test over"));
    await server.shutdown(0);
  }
});
