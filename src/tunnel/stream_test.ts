import assert from "node:assert/strict";
import { type StreamHost, TunnelStream } from "./stream.ts";

const host: StreamHost = {
  sendData() {},
  sendFin() {},
  sendReset() {},
  consumed() {},
  maxSendFrame: () => 16384,
  linkCredit: () => 1 << 20,
  takeLinkCredit() {},
  waitLinkCredit: () => Promise.resolve(),
  finished() {},
};

Deno.test("TunnelStream copies a small queued view so it does not pin its large read buffer", async () => {
  const s = new TunnelStream(host, 1, "t:1", 1 << 20, true);
  const big = new Uint8Array(256 * 1024).fill(7);
  s.deliver(big.subarray(0, 100)); // a small piece of a large read: copied
  s.deliver(big.subarray(0, 200 * 1024)); // most of it: kept as a view
  const a = (await s.read())!;
  const b = (await s.read())!;
  assert.equal(a.length, 100);
  assert.equal(a.buffer.byteLength, 100);
  assert.equal(b.buffer, big.buffer);
  assert.ok(a.every((x) => x === 7));
});

Deno.test("TunnelStream hands a view straight to a waiting reader without copying", async () => {
  const s = new TunnelStream(host, 1, "t:1", 1 << 20, true);
  const big = new Uint8Array(256 * 1024);
  const pending = s.read();
  s.deliver(big.subarray(0, 10));
  assert.equal((await pending)!.buffer, big.buffer);
});
