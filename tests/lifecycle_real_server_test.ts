/**
 * The local provider against the real `fluidity server` (started through
 * fluidityCommand), so drift in the child contract — argv, ready line,
 * /healthz, SIGTERM — fails here.
 */
import assert from "node:assert/strict";
import { type ChildExit, createLocalProvider } from "../src/lifecycle/local_provider.ts";
import { fluidityCommand } from "../src/lifecycle/self_command.ts";
import { kill, query, wake } from "../src/lifecycle/handlers.ts";
import { makeTestPki, writeTestPki } from "../src/certs/test_pki.ts";
import { memoryLogger } from "../src/log/logger.ts";

async function canConnect(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return true;
  } catch {
    return false;
  }
}

Deno.test("local provider runs the real fluidity server: wake, query, activity, crash, kill", async () => {
  const dir = await writeTestPki(await makeTestPki(), await Deno.makeTempDir({ prefix: "fl-rs-" }));
  const exits: ChildExit[] = [];
  let nextExit = Promise.withResolvers<ChildExit>();
  const logger = memoryLogger();
  const provider = createLocalProvider({
    command: (args) => fluidityCommand(args),
    certsDir: dir,
    logger,
    onExit: (e) => {
      exits.push(e);
      nextExit.resolve(e);
    },
  });
  try {
    assert.equal((await wake({ provider })).status, "waking");
    await provider.whenSettled();
    const first = await query({ provider });
    assert.equal(first.status, "running", logger.lines.join("\n"));
    assert.equal(first.publicIp, "127.0.0.1");
    assert.ok(await canConnect(first.port));

    const act = await provider.activity();
    assert.equal(act.activeConnections, 0);
    assert.equal(typeof act.lastActivityEpochSeconds, "number");

    // A crash (SIGKILL from outside) is reported as stopped; the next wake gets a new port.
    const pid = provider.pid()!;
    Deno.kill(pid, "SIGKILL");
    const crash = await nextExit.promise;
    assert.deepEqual(crash, { pid, code: 137, signal: "SIGKILL", expected: false });
    assert.equal((await query({ provider })).status, "stopped");
    nextExit = Promise.withResolvers<ChildExit>();

    assert.equal((await wake({ provider })).status, "waking");
    await provider.whenSettled();
    const second = await query({ provider });
    assert.equal(second.status, "running");
    assert.notEqual(second.port, first.port);

    await kill({ provider });
    const stop = await nextExit.promise;
    assert.equal(stop.expected, true);
    assert.equal(stop.code, 0, "SIGTERM drains and exits 0");
    assert.equal(await canConnect(second.port), false);
  } finally {
    await provider.close();
    await Deno.remove(dir, { recursive: true });
  }
});
