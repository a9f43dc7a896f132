import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import { silentLogger } from "../log/logger.ts";
import type { LinkEnd, Session } from "../tunnel/session.ts";
import { ProtocolVersionError } from "../tunnel/session.ts";
import {
  abortableSleep,
  backoffDelay,
  type LinkEvent,
  LinkManager,
  type LinkManagerOptions,
  NoTunnelError,
} from "./link_manager.ts";

interface FakeSession {
  usable: boolean;
  isClosed: boolean;
  streamCount: number;
  unusable: Promise<void>;
  closed: Promise<LinkEnd>;
  closeReasons: string[];
  close(reason?: string): void;
  drain(ms: number): Promise<boolean>;
  /** The link dies with `err`. */
  lose(err?: Error): void;
}

function fakeSession(): FakeSession {
  let resolveUnusable!: () => void;
  let resolveClosed!: (e: LinkEnd) => void;
  const s: FakeSession = {
    usable: true,
    isClosed: false,
    streamCount: 0,
    unusable: new Promise((r) => (resolveUnusable = r)),
    closed: new Promise((r) => (resolveClosed = r)),
    closeReasons: [],
    close(reason = "closed") {
      s.closeReasons.push(reason);
      s.lose();
    },
    drain: () => Promise.resolve(true),
    lose(err) {
      if (s.isClosed) return;
      s.usable = false;
      s.isClosed = true;
      resolveUnusable();
      resolveClosed({ error: err, helloReceived: true });
    },
  };
  return s;
}

/** Yields to queued promise callbacks a bounded number of times. */
async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
}

interface Harness {
  manager: LinkManager;
  sleeps: number[];
  locates: boolean[];
  dials: string[];
  events: LinkEvent[];
  fatal: Error[];
}

/**
 * A manager whose dial follows `script`: an Error fails that attempt, a
 * FakeSession succeeds, "hang" never settles. Past the script, dials hang.
 */
function harness(
  script: Array<Error | FakeSession | "hang">,
  extra: Partial<LinkManagerOptions> = {},
): Harness {
  const h: Harness = {
    manager: undefined as unknown as LinkManager,
    sleeps: [],
    locates: [],
    dials: [],
    events: [],
    fatal: [],
  };
  let n = 0;
  h.manager = new LinkManager({
    locator: {
      locate(fresh) {
        h.locates.push(fresh);
        return Promise.resolve({ host: `server${h.locates.length}`, port: 8443 });
      },
    },
    dial(host, port) {
      h.dials.push(`${host}:${port}`);
      const step = script[n++] ?? "hang";
      if (step === "hang") return new Promise(() => {});
      if (step instanceof Error) return Promise.reject(step);
      return Promise.resolve(step as unknown as Session);
    },
    initialBackoffMs: 250,
    maxBackoffMs: 30_000,
    rediscoverAfter: 3,
    logger: silentLogger(),
    random: () => 0.5,
    sleep: (ms) => {
      h.sleeps.push(ms);
      return Promise.resolve();
    },
    onEvent: (e) => h.events.push(e),
    onFatal: (e) => h.fatal.push(e),
    ...extra,
  });
  return h;
}

Deno.test("backoffDelay() is full jitter over an exponential cap", () => {
  const half = () => 0.5;
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => backoffDelay(n, 250, 30_000, half)),
    [125, 250, 500, 1000, 2000, 4000, 8000, 15000, 15000],
  );
  assert.equal(backoffDelay(1, 250, 30_000, () => 0), 0);
  assert.equal(backoffDelay(3, 250, 30_000, () => 0.999999), 999);
  assert.equal(backoffDelay(0, 250, 30_000, () => 0.999999), 249);
  assert.equal(backoffDelay(1000, 250, 30_000, () => 0.999999), 29_999);
  assert.ok(Number.isFinite(backoffDelay(1e9, 250, 30_000, half)));
});

Deno.test("abortableSleep() resolves early on abort", async () => {
  const clock = FakeTimers.install({ toFake: ["setTimeout", "clearTimeout"] });
  try {
    const ac = new AbortController();
    let done = false;
    const p = abortableSleep(60_000, ac.signal).then(() => (done = true));
    await clock.tickAsync(1000);
    assert.equal(done, false);
    ac.abort();
    await p;
    assert.equal(done, true);
    assert.equal(clock.countTimers(), 0);
    await abortableSleep(60_000, ac.signal); // already aborted
  } finally {
    clock.uninstall();
  }
});

Deno.test("LinkManager backs off with full jitter and rediscovers after 3 failed dials", async () => {
  const s = fakeSession();
  const fail = (i: number) => new Error(`refused ${i}`);
  const h = harness([fail(1), fail(2), fail(3), fail(4), fail(5), fail(6), fail(7), s]);
  h.manager.start();
  await settle(200);
  assert.equal(h.manager.current, s as unknown as Session);
  // random = 0.5 → half of 250·2^(n-1), capped.
  assert.deepEqual(h.sleeps, [125, 250, 500, 1000, 2000, 4000, 8000]);
  // First locate is not fresh; after failures 3 and 6 the locator is asked again, fresh.
  assert.deepEqual(h.locates, [false, true, true]);
  assert.deepEqual(h.dials, [
    "server1:8443",
    "server1:8443",
    "server1:8443",
    "server2:8443",
    "server2:8443",
    "server2:8443",
    "server3:8443",
    "server3:8443",
  ]);
  assert.deepEqual(
    h.events.filter((e) => e.type === "rediscover").map((e) =>
      (e as { failures: number }).failures
    ),
    [3, 6],
  );
  assert.deepEqual(h.events.at(-1), { type: "up", host: "server3", port: 8443, attempt: 8 });
  await h.manager.close();
  assert.deepEqual(s.closeReasons, ["agent shutting down"]);
});

Deno.test("LinkManager reconnects at once after a link loss, then backs off from 1", async () => {
  const s1 = fakeSession();
  const s2 = fakeSession();
  const h = harness([s1, new Error("refused"), s2]);
  h.manager.start();
  await settle(50);
  assert.equal(h.manager.current, s1 as unknown as Session);
  s1.lose(new Error("link is dead: no reply to a keepalive ping within 20s"));
  await settle(100);
  assert.equal(h.manager.current, s2 as unknown as Session);
  assert.deepEqual(h.sleeps, [125], "no sleep before the first reconnect");
  assert.deepEqual(h.locates, [false]);
  assert.ok(
    h.events.some((e) => e.type === "down" && /no reply to a keepalive ping/.test(e.reason)),
  );
  await h.manager.close();
});

Deno.test("LinkManager stops on a fatal error and session() then fails at once", async () => {
  const fatal = Object.assign(new Error("bad API key"), { fatal: true });
  const h = harness([new Error("refused"), fatal, fakeSession()]);
  h.manager.start();
  await settle(50);
  assert.equal(h.fatal.length, 1);
  assert.equal(h.fatal[0], fatal);
  assert.equal(h.manager.fatalError, fatal);
  assert.equal(h.dials.length, 2, "no dial after the fatal error");
  await assert.rejects(
    () => h.manager.session(10_000),
    (e: unknown) => e instanceof NoTunnelError && /no tunnel: bad API key/.test(e.message),
  );
  await h.manager.close();
});

Deno.test("LinkManager treats errors matched by isFatal as fatal", async () => {
  const h = harness([new Error("wake timed out")], {
    isFatal: (e) => /wake timed out/.test((e as Error).message),
  });
  h.manager.start();
  await settle(50);
  assert.equal(h.fatal[0]?.message, "wake timed out");
  assert.deepEqual(h.sleeps, []);
  await h.manager.close();
});

Deno.test("LinkManager stops on a protocol version mismatch from the link", async () => {
  // A ProtocolVersionError ending a link that was up is not retryable: the
  // agent must stop (and exit non-zero) rather than reconnect forever.
  const s = fakeSession();
  const h = harness([s, fakeSession()]);
  h.manager.start();
  await settle(50);
  s.lose(new ProtocolVersionError("peer speaks v2"));
  await settle(50);
  assert.equal(h.fatal[0]?.name, "ProtocolVersionError");
  assert.equal(h.dials.length, 1);
  await h.manager.close();
});

Deno.test("LinkManager.session() waits for the link to come up", async () => {
  const clock = FakeTimers.install({ toFake: ["setTimeout", "clearTimeout", "Date"] });
  try {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const s = fakeSession();
    const h = harness([], {
      dial: async () => {
        await gate;
        return s as unknown as Session;
      },
      now: () => Date.now(),
    });
    h.manager.start();
    let got: unknown;
    const p = h.manager.session(10_000).then((x) => (got = x));
    await clock.tickAsync(5_000);
    assert.equal(got, undefined);
    release();
    await clock.tickAsync(0);
    await p;
    assert.equal(got, s);
    await h.manager.close();
  } finally {
    clock.uninstall();
  }
});

Deno.test("LinkManager.session() throws NoTunnelError after link_wait", async () => {
  const clock = FakeTimers.install({ toFake: ["setTimeout", "clearTimeout", "Date"] });
  try {
    const h = harness(["hang"], { now: () => Date.now() });
    h.manager.start();
    const state: { error?: unknown } = {};
    const p = h.manager.session(10_000).catch((e) => (state.error = e));
    await clock.tickAsync(9_999);
    assert.equal(state.error, undefined);
    await clock.tickAsync(1);
    await p;
    const e: unknown = state.error;
    assert.ok(e instanceof NoTunnelError);
    assert.match(e.message, /no tunnel to the server within 10s/);
    // Immediately when no wait is allowed.
    await assert.rejects(() => h.manager.session(0), NoTunnelError);
    // The dial hangs forever here, so close() is not awaited.
    void h.manager.close();
  } finally {
    clock.uninstall();
  }
});

Deno.test("LinkManager.session() fails at once while shutting down", async () => {
  const h = harness(["hang"]);
  h.manager.start();
  const closing = h.manager.close();
  await assert.rejects(() => h.manager.session(60_000), /shutting down/);
  await settle();
  void closing;
});

Deno.test("LinkManager.close() wakes waiting session() calls", async () => {
  const h = harness(["hang"]);
  h.manager.start();
  const waiting = h.manager.session(3_600_000);
  void h.manager.close();
  await assert.rejects(() => waiting, /shutting down/);
});

Deno.test("LinkManager stops reconnecting after close()", async () => {
  const s = fakeSession();
  const h = harness([s, fakeSession(), fakeSession()]);
  h.manager.start();
  await settle(50);
  await h.manager.close();
  await settle(50);
  assert.equal(h.dials.length, 1);
  assert.equal(h.manager.current, undefined);
});
