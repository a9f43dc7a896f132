import assert from "node:assert/strict";
import { MIN_TUNED_RTT_MS, WindowTuner } from "./window_tuner.ts";

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

Deno.test("WindowTuner needs a round trip of 20 ms or more, and a ceiling above the start", () => {
  const unknown = new WindowTuner(256 * KiB, 1024 * KiB, 0);
  assert.equal(unknown.credited(256 * KiB, 1, Infinity), 0);
  // A short path, even one whose window went in well under two round trips.
  const short = new WindowTuner(256 * KiB, 1024 * KiB, 0);
  assert.equal(short.credited(256 * KiB, 1, MIN_TUNED_RTT_MS - 1), 0);
  assert.equal(short.window, 256 * KiB);
  const off = new WindowTuner(256 * KiB, 256 * KiB, 0);
  assert.equal(off.credited(256 * KiB, 1, 50), 0);
  assert.equal(off.window, 256 * KiB);
});

Deno.test("WindowTuner keeps the window when the reader fell behind (data consumed from a backlog)", () => {
  const t = new WindowTuner(256 * KiB, 1024 * KiB, 0);
  // Fast enough on a 50 ms path, but half a window was waiting unread at the first credit.
  assert.equal(t.credited(64 * KiB, 1, 50, 128 * KiB), 0);
  assert.equal(t.credited(192 * KiB, 2, 50, 0), 0);
  assert.equal(t.window, 256 * KiB);
  // The next window, read as it arrives (a record or two unread at most), grows it.
  assert.equal(t.credited(128 * KiB, 10, 50, 16 * KiB), 0);
  assert.equal(t.credited(128 * KiB, 20, 50, 16 * KiB), 256 * KiB);
});
