/**
 * End-to-end: flow-control window auto-tuning (src/tunnel/window_tuner.ts)
 * between real `fluidity agent` and `fluidity server` processes whose link
 * crosses a relay that delays every chunk 50 ms each way.
 */
import assert from "node:assert/strict";
import { startTunnel } from "./helpers/tunnel.ts";
import { bodyDigest, patternSha256, startHttpOrigin } from "./helpers/origins.ts";
import { type DelayRelay, startDelayRelay } from "./helpers/delay_relay.ts";

const MiB = 1 << 20;
const SIZE = 48 * MiB;

/** Downloads SIZE bytes through a tunnel over a 100 ms round trip; returns the agent's log lines. */
async function downloadOverLongPath(env: Record<string, string>): Promise<string[]> {
  let relay: DelayRelay | undefined;
  const [tunnel, origin] = await Promise.all([
    startTunnel({
      env,
      agentArgs: ["--log-level", "debug"],
      serverVia: (addr) => Promise.resolve((relay = startDelayRelay(addr, 50)).address),
    }),
    startHttpOrigin(),
  ]);
  const client = Deno.createHttpClient({ proxy: { url: tunnel.proxyUrl } });
  try {
    const res = await fetch(`${origin.url}/bytes?n=${SIZE}`, { client });
    assert.equal(res.status, 200);
    assert.deepEqual(await bodyDigest(res.body!), { length: SIZE, sha256: patternSha256(SIZE) });
    return [...tunnel.agent.stdout, ...tunnel.agent.stderr];
  } finally {
    client.close();
    await origin.close();
    await tunnel.close();
    await relay?.close();
  }
}

Deno.test("e2e window tuning: over a 100 ms round trip the agent grows its stream and link windows, and the data arrives intact", async () => {
  const log = await downloadOverLongPath({});
  const grown = (what: string) => log.filter((l) => l.includes(`${what} window grown`));
  assert.ok(grown("stream").length > 0, `no stream window growth in:\n${log.join("\n")}`);
  assert.ok(grown("link").length > 0, `no link window growth in:\n${log.join("\n")}`);
  // Round trips are measured on the quiet link: at least the relay's 100 ms.
  const rtt = Number(/rtt_ms=([\d.]+)/.exec(grown("stream")[0]!)?.[1]);
  assert.ok(rtt >= 100, `measured round trip ${rtt} ms`);
});

Deno.test("e2e window tuning: with the ceilings at the start sizes the windows stay fixed", async () => {
  const log = await downloadOverLongPath({
    FLUIDITY_LINK_STREAM_WINDOW_MAX: "2MiB",
    FLUIDITY_LINK_LINK_WINDOW_MAX: "4MiB",
  });
  assert.deepEqual(log.filter((l) => l.includes("window grown")), []);
  assert.ok(log.some((l) => l.includes("tunnel up")));
});
