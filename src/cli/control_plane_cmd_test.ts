import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { controlPlaneCommand } from "./control_plane_cmd.ts";
import { runCli } from "./dispatch.ts";
import type { CommandContext } from "./context.ts";
import { recordingContext } from "./test_context.ts";

const FIXTURE = fileURLToPath(new URL("../../tests/fixtures/fake_server.ts", import.meta.url));
const KEY = "cmd-test-key-abcdef";

/** A context that resolves `listening` with the URL once the ready line is printed. */
function liveContext(env: Record<string, string | undefined> = {}) {
  const ctrl = new AbortController();
  const stdout: string[] = [];
  const stderr: string[] = [];
  const listening = Promise.withResolvers<string>();
  const ctx: CommandContext = {
    env,
    out: (l) => {
      stdout.push(l);
      const m = /^fluidity control-plane: listening on (http:\/\/\S+)$/.exec(l);
      if (m) listening.resolve(m[1]!);
    },
    err: (l) => stderr.push(l),
    signal: ctrl.signal,
  };
  return { ctx, stdout, stderr, listening: listening.promise, stop: () => ctrl.abort() };
}

async function fakeCerts(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "fluidity-cp-" });
  for (const f of ["server.crt", "server.key", "ca.crt"]) {
    await Deno.writeTextFile(join(dir, f), "x");
  }
  return dir;
}

function post(url: string, key?: string): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: key === undefined ? {} : { "x-api-key": key },
    body: "{}",
  });
}

async function canConnect(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return true;
  } catch {
    return false;
  }
}

Deno.test("control-plane without an API key exits 2 naming --api-key and FLUIDITY_API_KEY", async () => {
  const ctx = recordingContext();
  assert.equal(await runCli(["control-plane", "--listen", "127.0.0.1:0"], ctx), 2);
  assert.match(ctx.stderr.join("\n"), /--api-key KEY or set FLUIDITY_API_KEY/);
});

Deno.test("control-plane rejects a bad provider, address, minutes and missing aws flags with exit 2", async () => {
  const cases: Array<[string[], RegExp]> = [
    [["--provider", "gcp"], /--provider must be local or aws/],
    [["--listen", "nowhere"], /--listen: expected an address/],
    [["--idle-minutes", "1.5"], /--idle-minutes must be a whole number/],
    [["--provider", "aws", "--service", "s"], /--provider aws needs --cluster/],
    [["--provider", "aws", "--cluster", "c"], /--provider aws needs --service/],
    [
      ["--certs-dir", "/nonexistent-dir"],
      /nonexistent-dir\/ca\.crt not found .*fluidity certs init/,
    ],
    [["--bogus"], /Unknown option '--bogus'/],
  ];
  for (const [args, re] of cases) {
    const ctx = recordingContext({ FLUIDITY_API_KEY: KEY });
    assert.equal(await runCli(["control-plane", ...args], ctx), 2, args.join(" "));
    assert.match(ctx.stderr.join("\n"), re);
    assert.ok(!ctx.stderr.join("\n").includes(KEY));
  }
});

Deno.test("control-plane --provider local: 403 without key, wake starts the child, abort leaves no child", async () => {
  const dir = await fakeCerts();
  const live = liveContext({ FLUIDITY_API_KEY: KEY });
  const cmd = controlPlaneCommand({
    serverCommand: (args) => [Deno.execPath(), "run", "-A", FIXTURE, ...args],
  });
  const done = cmd.run(
    ["--listen", "127.0.0.1:0", "--certs-dir", dir, "--log-format", "json"],
    live.ctx,
  );
  try {
    const url = await Promise.race([
      live.listening,
      done.then((code) => {
        throw new Error(`exited ${code}: ${live.stderr.join("\n")}`);
      }),
    ]);
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);

    const forbidden = await post(`${url}/wake`);
    assert.equal(forbidden.status, 403);
    assert.deepEqual(await forbidden.json(), { message: "Forbidden" });

    const q0 = await post(`${url}/query`, KEY);
    assert.equal(q0.status, 200);
    assert.deepEqual(await q0.json(), { status: "stopped", publicIp: null, port: 0 });

    const w = await post(`${url}/wake`, KEY);
    assert.equal(w.status, 200);
    assert.equal((await w.json()).status, "waking");

    // Wait for the real child to print its ready line (bounded).
    let q: { status: string; publicIp: string | null; port: number } = {
      status: "starting",
      publicIp: null,
      port: 0,
    };
    for (let i = 0; i < 400 && q.status !== "running"; i++) {
      q = await (await post(`${url}/query`, KEY)).json();
      if (q.status !== "running") await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal(q.status, "running");
    assert.equal(q.publicIp, "127.0.0.1");
    assert.ok(await canConnect(q.port));

    live.stop();
    assert.equal(await done, 0);
    assert.equal(await canConnect(q.port), false, "the server child was stopped");
    const logs = live.stderr.join("\n");
    assert.match(logs, /server child exited/);
    assert.ok(!logs.includes(KEY), "the API key is never logged");
  } finally {
    live.stop();
    await done.catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("control-plane --api-key flag wins over FLUIDITY_API_KEY", async () => {
  const dir = await fakeCerts();
  const live = liveContext({ FLUIDITY_API_KEY: "from-env" });
  const done = controlPlaneCommand().run(
    ["--listen", "127.0.0.1:0", "--certs-dir", dir, "--api-key", KEY],
    live.ctx,
  );
  try {
    const url = await live.listening;
    const env = await post(`${url}/query`, "from-env");
    assert.equal(env.status, 403);
    await env.body?.cancel();
    const flag = await post(`${url}/query`, KEY);
    assert.equal(flag.status, 200);
    await flag.body?.cancel();
  } finally {
    live.stop();
    assert.equal(await done, 0);
    await Deno.remove(dir, { recursive: true });
  }
});
