import assert from "node:assert/strict";
import { CircuitBreaker } from "./breaker.ts";

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
