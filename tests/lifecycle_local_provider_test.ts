/**
 * The local provider against a real child process: the fixture
 * `tests/fixtures/fake_server.ts`, which keeps the `fluidity server` child
 * contract (ready line on stdout, JSON logs on stderr, /healthz, SIGTERM).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type ChildExit, createLocalProvider } from "../src/lifecycle/local_provider.ts";
import { handleLifecycleRequest } from "../src/lifecycle/http_api.ts";
import { kill, query, sleep, wake } from "../src/lifecycle/handlers.ts";
import { memoryLogger } from "../src/log/logger.ts";
import { ProviderError } from "../src/lifecycle/types.ts";

const FIXTURE = fileURLToPath(new URL("./fixtures/fake_server.ts", import.meta.url));
const fixtureCommand = (args: string[]) => [Deno.execPath(), "run", "-A", FIXTURE, ...args];

async function certsDir(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "fluidity-lp-" });
  for (const f of ["server.crt", "server.key", "ca.crt"]) {
    await Deno.writeTextFile(join(dir, f), "x");
  }
  return dir;
}

async function setup(
  extraArgs: string[] = [],
  more: { killGraceMs?: number; readyTimeoutMs?: number } = {},
) {
  const dir = await certsDir();
  const exits: ChildExit[] = [];
  let onExit: ((e: ChildExit) => void) | undefined;
  const logger = memoryLogger();
  const provider = createLocalProvider({
    command: fixtureCommand,
    certsDir: dir,
    extraArgs,
    logger,
    onExit: (e) => {
      exits.push(e);
      onExit?.(e);
    },
    ...more,
  });
  return {
    provider,
    exits,
    logger,
    nextExit: () => new Promise<ChildExit>((resolve) => onExit = resolve),
    async [Symbol.asyncDispose]() {
      await provider.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function canConnect(port: number): Promise<boolean> {
  try {
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    c.close();
    return true;
  } catch {
    return false;
  }
}

Deno.test("local provider: wake twice starts one child, query reports it, kill stops it", async () => {
  await using s = await setup();
  const { provider } = s;
  assert.deepEqual(await query({ provider }), { status: "stopped", publicIp: null, port: 0 });
  assert.equal((await wake({ provider })).status, "waking");
  const pid = provider.pid();
  assert.ok(pid);
  const second = await wake({ provider });
  assert.ok(["starting", "already_running"].includes(second.status));
  assert.equal(provider.pid(), pid, "the second wake did not start another child");
  await provider.whenSettled();
  const q = await query({ provider });
  assert.equal(q.status, "running");
  assert.equal(q.publicIp, "127.0.0.1");
  assert.ok(q.port > 0);
  assert.ok(await canConnect(q.port), "the child listens on the reported port");
  assert.equal((await wake({ provider })).status, "already_running");
  assert.equal(provider.pid(), pid);
  const st = await provider.describe();
  assert.equal(st.runningCount, 1);
  assert.ok(st.startedAt !== null);

  assert.deepEqual(await kill({ provider }), { status: "killed", desiredCount: 0 });
  assert.equal(provider.pid(), null);
  assert.deepEqual(s.exits, [{ pid, code: 0, signal: null, expected: true }]);
  assert.equal(await canConnect(q.port), false, "the child is gone");
  assert.deepEqual(await query({ provider }), { status: "stopped", publicIp: null, port: 0 });
  // the child's argv followed the contract and its stderr was drained into the logger
  const log = s.logger.lines.join("\n");
  assert.match(log, /server started/);
  assert.match(log, /allowPrivate\\":true/);
});

Deno.test("local provider: concurrent wakes start exactly one child", async () => {
  await using s = await setup();
  const results = await Promise.all(
    Array.from({ length: 10 }, () => wake({ provider: s.provider })),
  );
  assert.ok(results.every((r) => r.status === "waking" || r.status === "starting"));
  const pid = s.provider.pid();
  await s.provider.whenSettled();
  assert.equal(s.provider.pid(), pid);
  await s.provider.close();
  assert.equal(s.exits.length, 1);
});

Deno.test("local provider: each wake after a kill gets a fresh port", async () => {
  await using s = await setup();
  const { provider } = s;
  await wake({ provider });
  await provider.whenSettled();
  const first = await query({ provider });
  await kill({ provider });
  await wake({ provider });
  await provider.whenSettled();
  const second = await query({ provider });
  assert.equal(second.status, "running");
  assert.notEqual(second.port, first.port);
});

Deno.test("local provider: a crashed child is reported stopped and the next wake starts a new one", async () => {
  await using s = await setup(["--crash-after-ready"]);
  const { provider } = s;
  const exited = s.nextExit();
  await wake({ provider });
  const pid = provider.pid();
  const exit = await exited;
  assert.deepEqual(exit, { pid, code: 3, signal: null, expected: false });
  assert.deepEqual(await query({ provider }), { status: "stopped", publicIp: null, port: 0 });
  assert.equal((await provider.describe()).desiredCount, 0);
  assert.match(s.logger.lines.join("\n"), /exited unexpectedly.*crashing after ready/);
  const again = s.nextExit();
  assert.equal((await wake({ provider })).status, "waking");
  assert.notEqual(provider.pid(), pid);
  await again;
});

Deno.test("local provider: a child that dies before ready is stopped", async () => {
  await using s = await setup(["--crash-before-ready"]);
  await wake({ provider: s.provider });
  await s.provider.whenSettled();
  // whenSettled resolves on exit too
  assert.equal((await query({ provider: s.provider })).status, "stopped");
  assert.equal(s.exits[0]?.expected, false);
  assert.match(s.logger.lines.join("\n"), /exited unexpectedly.*crashing before ready/);
});

Deno.test("local provider: a child ignoring SIGTERM is SIGKILLed after the grace period", async () => {
  await using s = await setup(["--ignore-sigterm"], { killGraceMs: 200 });
  await wake({ provider: s.provider });
  await s.provider.whenSettled();
  await kill({ provider: s.provider });
  assert.equal(s.exits.length, 1);
  assert.equal(s.exits[0]!.signal, "SIGKILL");
  assert.match(s.logger.lines.join("\n"), /ignored SIGTERM, sending SIGKILL/);
});

Deno.test("local provider: a child that never becomes ready is killed after readyTimeoutMs", async () => {
  await using s = await setup(["--never-ready"], { readyTimeoutMs: 300 });
  await wake({ provider: s.provider });
  assert.equal((await query({ provider: s.provider })).status, "starting");
  await s.provider.whenSettled();
  assert.equal((await query({ provider: s.provider })).status, "stopped");
  assert.match(s.logger.lines.join("\n"), /did not become ready in time/);
});

Deno.test("local provider: activity() reads the child's /healthz and drives sleep", async () => {
  {
    await using s = await setup(["--active-streams", "2"]);
    await wake({ provider: s.provider });
    await s.provider.whenSettled();
    const a = await s.provider.activity();
    assert.equal(a.activeConnections, 2);
    assert.equal(typeof a.lastActivityEpochSeconds, "number");
    const later = Date.now() + 60 * 60_000;
    const r = await sleep({ provider: s.provider, now: () => later });
    assert.equal(r.action, "kept");
    assert.match(r.reason, /2 active connection/);
  }
  {
    await using s = await setup(["--active-streams", "0", "--last-activity", "0"]);
    await wake({ provider: s.provider });
    await s.provider.whenSettled();
    const soon = await sleep({ provider: s.provider, now: () => Date.now() + 5 * 60_000 });
    assert.equal(soon.action, "kept");
    assert.match(soon.reason, /grace period/);
    const later = await sleep({ provider: s.provider, now: () => Date.now() + 20 * 60_000 });
    assert.equal(later.action, "scaled_down");
    assert.equal((await query({ provider: s.provider })).status, "stopped");
    assert.equal(s.exits[0]?.expected, true);
  }
});

Deno.test("local provider: close() kills the child and refuses later wakes", async () => {
  await using s = await setup();
  await wake({ provider: s.provider });
  await s.provider.whenSettled();
  const { port } = await query({ provider: s.provider });
  await s.provider.close();
  assert.equal(s.exits.length, 1);
  assert.equal(await canConnect(port), false);
  await assert.rejects(s.provider.scale(1), ProviderError);
});

Deno.test("local provider: close() during startup leaves no child behind", async () => {
  await using s = await setup();
  await wake({ provider: s.provider });
  await s.provider.close();
  assert.equal(s.exits.length, 1);
  assert.equal(s.exits[0]!.expected, true);
});

Deno.test("local provider: a server command that cannot start is a 500 naming it", async () => {
  const provider = createLocalProvider({
    command: (args) => ["/nonexistent/fluidity", ...args],
    certsDir: "/nonexistent",
  });
  const r = await handleLifecycleRequest(
    { method: "POST", path: "/wake", headers: { "x-api-key": "k" } },
    { provider, apiKey: "k" },
  );
  assert.equal(r.statusCode, 500);
  assert.match(
    JSON.parse(r.body).message,
    /cannot start the server child "\/nonexistent\/fluidity"/,
  );
  await provider.close();
});
