import assert from "node:assert/strict";
import { WindowTuner } from "./window_tuner.ts";

const KiB = 1024;

Deno.test("WindowTuner doubles a window consumed within two round trips, up to the ceiling", () => {
  const t = new WindowTuner(256 * KiB, 1024 * KiB, 0);
  // A quarter window at a time; the whole window within 60 ms on a 50 ms path.
  assert.equal(t.credited(64 * KiB, 10, 50), 0);
  assert.equal(t.credited(64 * KiB, 20, 50), 0);
  assert.equal(t.credited(64 * KiB, 40, 50), 0);
  assert.equal(t.credited(64 * KiB, 60, 50), 256 * KiB);
  assert.equal(t.window, 512 * KiB);
  assert.equal(t.credited(512 * KiB, 100, 50), 512 * KiB);
  assert.equal(t.window, 1024 * KiB);
  // At the ceiling: no more growth however fast.
  assert.equal(t.credited(1024 * KiB, 101, 50), 0);
  assert.equal(t.window, 1024 * KiB);
});

Deno.test("WindowTuner keeps the window when data is slower than the window allows", () => {
  const t = new WindowTuner(256 * KiB, 1024 * KiB, 0);
  // A window every 150 ms on a 50 ms path: the sender, not the window, is the limit.
  for (let now = 150; now <= 1500; now += 150) assert.equal(t.credited(256 * KiB, now, 50), 0);
  assert.equal(t.window, 256 * KiB);
});

Deno.test("WindowTuner needs a round trip, and a ceiling above the start", () => {
  const unknown = new WindowTuner(256 * KiB, 1024 * KiB, 0);
  assert.equal(unknown.credited(256 * KiB, 1, Infinity), 0);
  const loopback = new WindowTuner(256 * KiB, 1024 * KiB, 0);
  assert.equal(loopback.credited(256 * KiB, 0.5, 0.05), 0); // 0.5 ms > 2 × 0.05 ms
  const off = new WindowTuner(256 * KiB, 256 * KiB, 0);
  assert.equal(off.credited(256 * KiB, 1, 50), 0);
  assert.equal(off.window, 256 * KiB);
});
