import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import { ResetCode } from "../tunnel/frames.ts";
import { type Connect, createDialer, DialError, type Lookup, splitTarget } from "./dialer.ts";
import type { PolicyOptions } from "./policy.ts";

const strict: PolicyOptions = {
  allowPrivateTargets: false,
  allowHosts: [],
  denyHosts: [],
  allowPorts: [],
};

interface FakeConn {
  ip: string;
  port: number;
  closed: boolean;
  noDelay: boolean;
  setNoDelay(v: boolean): void;
  close(): void;
}

/** A fake connect recording every dial; `behave` decides per address. */
function fakeConnect(
  behave: (ip: string) => "ok" | Error | "hang" | Promise<"ok"> = () => "ok",
) {
  const dials: string[] = [];
  const conns: FakeConn[] = [];
  const connect: Connect = (ip, port) => {
    dials.push(`${ip}:${port}`);
    const make = () => {
      const c: FakeConn = {
        ip,
        port,
        closed: false,
        noDelay: false,
        setNoDelay(v) {
          this.noDelay = v;
        },
        close() {
          this.closed = true;
        },
      };
      conns.push(c);
      return c as unknown as Deno.TcpConn;
    };
    const b = behave(ip);
    if (b === "ok") return Promise.resolve(make());
    if (b === "hang") return new Promise(() => {});
    if (b instanceof Promise) return b.then(make);
    return Promise.reject(b);
  };
  return { connect, dials, conns };
}

function fakeLookup(table: Record<string, string[] | Error>) {
  const asked: string[] = [];
  const lookup: Lookup = (host) => {
    asked.push(host);
    const r = table[host];
    if (r === undefined) return Promise.reject(new Error(`getaddrinfo ENOTFOUND ${host}`));
    return r instanceof Error ? Promise.reject(r) : Promise.resolve(r);
  };
  return { lookup, asked };
}

async function dialError(p: Promise<unknown>): Promise<DialError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof DialError, `expected DialError, got ${e}`);
    return e;
  }
  assert.fail("dial succeeded");
}

const table = {
  "private.example": ["10.0.0.5"],
  "loop.example": ["127.0.0.1"],
  "meta.example": ["169.254.169.254"],
  "v6loop.example": ["::1"],
  "mapped.example": ["::ffff:127.0.0.1"],
  "mix.example": ["127.0.0.1", "10.0.0.5", "93.184.216.34", "::1"],
  "two.example": ["93.184.216.34", "93.184.216.35"],
  "public.example": ["93.184.216.34"],
  "none.example": [],
};

Deno.test("splitTarget() splits host:port and [v6]:port, refusing junk with FORBIDDEN", () => {
  assert.deepEqual(splitTarget("example.com:443"), { host: "example.com", port: 443 });
  assert.deepEqual(splitTarget("[::1]:80"), { host: "::1", port: 80 });
  assert.deepEqual(splitTarget("10.0.0.1:8080"), { host: "10.0.0.1", port: 8080 });
  for (
    const bad of [
      "example.com",
      "example.com:",
      ":80",
      "::1:80",
      "a b:80",
      "user@host:80",
      "host:80/path",
      "host:123456",
      "a".repeat(254) + ":80",
      "",
    ]
  ) {
    assert.throws(
      () => splitTarget(bad),
      (e: unknown) => e instanceof DialError && e.code === ResetCode.FORBIDDEN,
      bad,
    );
  }
});

Deno.test("createDialer() refuses a name resolving to a private address with FORBIDDEN", async () => {
  const { lookup } = fakeLookup(table);
  const { connect, dials } = fakeConnect();
  const dial = createDialer({ policy: strict, timeoutMs: 1000, lookup, connect });
  for (
    const [host, re] of [
      ["private.example", /10\.0\.0\.5 is a private address/],
      ["loop.example", /127\.0\.0\.1 is a loopback address/],
      ["meta.example", /169\.254\.169\.254 is a link-local address/],
      ["v6loop.example", /::1 is a loopback address/],
      ["mapped.example", /::ffff:127\.0\.0\.1 is a loopback address/],
    ] as const
  ) {
    const e = await dialError(dial(host, 80));
    assert.equal(e.code, ResetCode.FORBIDDEN, host);
    assert.match(e.message, new RegExp(`^${host}:80: refused by policy: `));
    assert.match(e.message, re);
    assert.match(e.message, /allow_private_targets/);
  }
  assert.deepEqual(dials, []);
});

Deno.test("createDialer() refuses private IP literals without a lookup", async () => {
  const { lookup, asked } = fakeLookup(table);
  const { connect, dials } = fakeConnect();
  const dial = createDialer({ policy: strict, timeoutMs: 1000, lookup, connect });
  for (const ip of ["127.0.0.1", "169.254.169.254", "10.1.2.3", "::1", "::ffff:10.1.2.3"]) {
    const e = await dialError(dial(ip, 80));
    assert.equal(e.code, ResetCode.FORBIDDEN, ip);
  }
  assert.match((await dialError(dial("::1", 80))).message, /^\[::1\]:80: refused by policy/);
  assert.deepEqual(asked, []);
  assert.deepEqual(dials, []);
});

Deno.test("createDialer() with a mix of addresses dials only the public one", async () => {
  const { lookup } = fakeLookup(table);
  const { connect, dials, conns } = fakeConnect();
  const dial = createDialer({ policy: strict, timeoutMs: 1000, lookup, connect });
  const conn = await dial("mix.example", 443) as unknown as FakeConn;
  assert.deepEqual(dials, ["93.184.216.34:443"]);
  assert.equal(conn, conns[0]);
  assert.equal(conn.noDelay, true);
});

Deno.test("createDialer() tries the next allowed address when one refuses", async () => {
  const { lookup } = fakeLookup(table);
  const { connect, dials } = fakeConnect((ip) =>
    ip.endsWith(".34") ? new Deno.errors.ConnectionRefused("refused") : "ok"
  );
  const dial = createDialer({ policy: strict, timeoutMs: 1000, lookup, connect });
  const conn = await dial("two.example", 80) as unknown as FakeConn;
  assert.equal(conn.ip, "93.184.216.35");
  assert.deepEqual(dials, ["93.184.216.34:80", "93.184.216.35:80"]);
});

Deno.test("createDialer() maps connect errors to reset codes", async () => {
  const { lookup } = fakeLookup(table);
  const cases: Array<[Error, ResetCode, RegExp]> = [
    [new Deno.errors.ConnectionRefused("x"), ResetCode.REFUSED, /connection refused/],
    [new Deno.errors.ConnectionReset("x"), ResetCode.CONN_RESET, /connection reset/],
    [new Deno.errors.TimedOut("x"), ResetCode.TIMEOUT, /timed out/],
    [new Error("No route to host"), ResetCode.UNREACHABLE, /No route to host/],
  ];
  for (const [err, code, re] of cases) {
    const { connect } = fakeConnect(() => err);
    const dial = createDialer({ policy: strict, timeoutMs: 1000, lookup, connect });
    const e = await dialError(dial("public.example", 80));
    assert.equal(e.code, code, err.message);
    assert.match(e.message, /^public\.example:80: /);
    assert.match(e.message, re);
  }
});

Deno.test("createDialer() maps a DNS failure and an empty answer to DNS", async () => {
  const { lookup } = fakeLookup(table);
  const { connect, dials } = fakeConnect();
  const dial = createDialer({ policy: strict, timeoutMs: 1000, lookup, connect });
  const e = await dialError(dial("nxdomain.example", 443));
  assert.equal(e.code, ResetCode.DNS);
  assert.match(e.message, /cannot resolve nxdomain\.example: getaddrinfo ENOTFOUND/);
  const e2 = await dialError(dial("none.example", 443));
  assert.equal(e2.code, ResetCode.DNS);
  assert.match(e2.message, /has no addresses/);
  assert.deepEqual(dials, []);
});

Deno.test("createDialer() checks names and ports before resolving", async () => {
  const { lookup, asked } = fakeLookup(table);
  const { connect } = fakeConnect();
  const dial = createDialer({
    policy: { ...strict, denyHosts: ["*.blocked.example"], allowPorts: ["80", "443"] },
    timeoutMs: 1000,
    lookup,
    connect,
  });
  const e = await dialError(dial("www.blocked.example", 443));
  assert.equal(e.code, ResetCode.FORBIDDEN);
  assert.match(e.message, /deny_hosts/);
  const p = await dialError(dial("public.example", 22));
  assert.equal(p.code, ResetCode.FORBIDDEN);
  assert.match(p.message, /port 22 is not in policy.allow_ports/);
  assert.deepEqual(asked, []);
});

Deno.test("createDialer() allows private targets when configured", async () => {
  const { lookup } = fakeLookup(table);
  const { connect, dials } = fakeConnect();
  const dial = createDialer({
    policy: { ...strict, allowPrivateTargets: true },
    timeoutMs: 1000,
    lookup,
    connect,
  });
  await dial("loop.example", 8080);
  await dial("::1", 8080);
  assert.deepEqual(dials, ["127.0.0.1:8080", "::1:8080"]);
});

Deno.test("createDialer() times out a connect that never answers with TIMEOUT", async () => {
  const clock = FakeTimers.install({ toFake: ["setTimeout", "clearTimeout", "Date"] });
  try {
    const { lookup } = fakeLookup(table);
    const { connect, dials } = fakeConnect(() => "hang");
    const dial = createDialer({ policy: strict, timeoutMs: 10_000, lookup, connect });
    const state: { settled?: unknown } = {};
    const p = dial("public.example", 443).then(
      () => (state.settled = "connected"),
      (e) => (state.settled = e),
    );
    await clock.tickAsync(9_999);
    assert.equal(state.settled, undefined);
    await clock.tickAsync(1);
    const settled: unknown = await p;
    assert.ok(settled instanceof DialError);
    assert.equal(settled.code, ResetCode.TIMEOUT);
    assert.match(settled.message, /public\.example:443: no answer within 10s/);
    assert.deepEqual(dials, ["93.184.216.34:443"]);
  } finally {
    clock.uninstall();
  }
});

Deno.test("createDialer() times out a lookup that never answers, and closes a late connect", async () => {
  const clock = FakeTimers.install({ toFake: ["setTimeout", "clearTimeout", "Date"] });
  try {
    const hangLookup: Lookup = () => new Promise(() => {});
    const dial = createDialer({
      policy: strict,
      timeoutMs: 2000,
      lookup: hangLookup,
      connect: fakeConnect().connect,
    });
    const p = dialError(dial("slow-dns.example", 80));
    await clock.tickAsync(2000);
    const e = await p;
    assert.equal(e.code, ResetCode.TIMEOUT);

    let release!: () => void;
    const late = new Promise<"ok">((r) => (release = () => r("ok")));
    const { connect, conns } = fakeConnect(() => late);
    const dial2 = createDialer({
      policy: strict,
      timeoutMs: 2000,
      lookup: fakeLookup(table).lookup,
      connect,
    });
    const p2 = dialError(dial2("public.example", 80));
    await clock.tickAsync(2000);
    assert.equal((await p2).code, ResetCode.TIMEOUT);
    release();
    await clock.tickAsync(0);
    assert.equal(conns.length, 1);
    assert.equal(conns[0]!.closed, true, "a connect completing after the timeout is closed");
  } finally {
    clock.uninstall();
  }
});

Deno.test("createDialer() with the system resolver refuses numeric aliases of loopback", async () => {
  // getaddrinfo reads these as 127.0.0.1 / 0.0.0.0 without any DNS traffic;
  // the policy must see the resolved address, not the spelling.
  const { connect, dials } = fakeConnect();
  const dial = createDialer({ policy: strict, timeoutMs: 5000, connect });
  for (
    const host of ["127.1", "0x7f.1", "2130706433", "017700000001", "0177.0.0.1", "0", "localhost"]
  ) {
    const { host: h, port } = splitTarget(`${host}:80`);
    const e = await dialError(dial(h, port));
    assert.equal(e.code, ResetCode.FORBIDDEN, `${host}: ${e.message}`);
    assert.match(e.message, /is a (loopback|unspecified) address/);
  }
  assert.deepEqual(dials, []);
});
