/**
 * The deployable artifacts run for real, offline: the layer (`bootstrap`,
 * `runtime.js`, `bin/deno`) and a function zip are unpacked as Lambda would
 * unpack them, and the bootstrap is started as a process against
 *  1. our own fake Runtime API (`lambdas/_fake_runtime_api.ts`), and
 *  2. `npm:@vercel/fun`, a third-party implementation of the Runtime API.
 *
 * `bin/deno` is a stand-in that execs this machine's deno (the real layer binary
 * is the same Deno release, Linux x64), so the test does not pack 95 MB twice.
 */
import assert from "node:assert/strict";
import { unzipSync } from "fflate";
import { createFunction } from "@vercel/fun";
import { buildFunctionZip, buildLayerZip } from "../scripts/layer.ts";
import { startFakeRuntimeApi } from "../lambdas/_fake_runtime_api.ts";

const FIXTURES = new URL("./fixtures/lambda/", import.meta.url);

/** Unpacks a zip into `dir`, applying the unix modes stored in it (as Lambda does). */
async function unpack(zip: Uint8Array, dir: string): Promise<void> {
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  let eocd = zip.length - 22;
  while (view.getUint32(eocd, true) !== 0x06054b50) eocd--;
  let off = view.getUint32(eocd + 16, true);
  const modes = new Map<string, number>();
  for (let i = 0; i < view.getUint16(eocd + 10, true); i++) {
    const nameLen = view.getUint16(off + 28, true);
    const name = new TextDecoder().decode(zip.subarray(off + 46, off + 46 + nameLen));
    modes.set(name, (view.getUint32(off + 38, true) >>> 16) & 0o777);
    off += 46 + nameLen + view.getUint16(off + 30, true) + view.getUint16(off + 32, true);
  }
  for (const [name, data] of Object.entries(unzipSync(zip))) {
    const path = `${dir}/${name}`;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeFile(path, data, { mode: modes.get(name) ?? 0o644 });
    await Deno.chmod(path, modes.get(name) ?? 0o644);
  }
}

/** A layer whose bin/deno execs the deno running this test. */
async function unpackLayer(dir: string): Promise<void> {
  const standIn = `#!/bin/sh\nexec "${Deno.execPath()}" "$@"\n`;
  await unpack(await buildLayerZip(new TextEncoder().encode(standIn)), dir);
}

function baseEnv(tmp: string): Record<string, string> {
  return {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: tmp,
    DENO_DIR: `${tmp}/deno_dir`,
    NO_COLOR: "1",
  };
}

/** Starts `<layer>/bootstrap` as Lambda would, collecting stderr. */
function startBootstrap(layer: string, env: Record<string, string>) {
  const child = new Deno.Command(`${layer}/bootstrap`, {
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const decoder = new TextDecoder();
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    let text = "";
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
    return text;
  };
  const output = Promise.all([collect(child.stdout), collect(child.stderr)]);
  return {
    child,
    async finish(): Promise<{ code: number; stderr: string }> {
      const [status, [stdout, stderr]] = await Promise.all([child.status, output]);
      return { code: status.code, stderr: stdout + stderr };
    },
  };
}

/** A loopback stand-in for the ECS JSON API (awsJson1_1), for the real bundled kill.js. */
function startFakeEcs() {
  const calls: Array<{ target: string; body: Record<string, unknown> }> = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const target = (req.headers.get("x-amz-target") ?? "").split(".").pop() ?? "";
    const body = await req.json() as Record<string, unknown>;
    calls.push({ target, body });
    const headers = { "content-type": "application/x-amz-json-1.1" };
    if (target === "UpdateService") {
      return new Response(
        JSON.stringify({
          service: {
            serviceName: body["service"],
            desiredCount: body["desiredCount"],
            status: "ACTIVE",
          },
        }),
        { headers },
      );
    }
    return new Response(
      JSON.stringify({ __type: "InvalidParameterException", message: `unexpected ${target}` }),
      { status: 400, headers },
    );
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, calls, close: () => server.shutdown() };
}

Deno.test("bootstrap from the layer zip reports a bad configuration of the real kill bundle as an init error", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "fluidity-lambda-" });
  const fake = startFakeRuntimeApi();
  try {
    await unpackLayer(`${tmp}/opt`);
    await unpack(await buildFunctionZip("kill"), `${tmp}/task`);
    fake.enqueue({
      event: JSON.parse(await Deno.readTextFile(new URL("scheduled_kill.json", FIXTURES))),
    });
    const run = startBootstrap(`${tmp}/opt`, {
      ...baseEnv(tmp),
      AWS_LAMBDA_RUNTIME_API: fake.api,
      _HANDLER: "kill.handler",
      LAMBDA_TASK_ROOT: `${tmp}/task`,
      AWS_REGION: "eu-west-1",
      SERVICE: "fluidity-server",
      IDLE_MINUTES: "zero",
    });
    const { code, stderr } = await run.finish();
    assert.equal(code, 1, stderr);
    assert.equal(fake.outcomes.length, 1, stderr);
    const [init] = fake.outcomes;
    assert.equal(init!.kind, "init-error");
    const body = init!.body as { errorType: string; errorMessage: string };
    assert.equal(body.errorType, "ConfigError");
    assert.match(body.errorMessage, /CLUSTER is not set/);
    assert.match(body.errorMessage, /IDLE_MINUTES must be an integer from 1 to 1440, got "zero"/);
    assert.equal(fake.nextCalls(), 0, "no invocation is taken after a failed init");
  } finally {
    await fake.close();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("bootstrap from the layer zip runs the real kill bundle: scheduled and API events reach ECS", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "fluidity-lambda-" });
  const fake = startFakeRuntimeApi();
  const ecs = startFakeEcs();
  let run: ReturnType<typeof startBootstrap> | undefined;
  try {
    await unpackLayer(`${tmp}/opt`);
    await unpack(await buildFunctionZip("kill"), `${tmp}/task`);
    const scheduled = JSON.parse(await Deno.readTextFile(new URL("scheduled_kill.json", FIXTURES)));
    const api = JSON.parse(await Deno.readTextFile(new URL("apigw_kill.json", FIXTURES)));
    fake.enqueue({ event: scheduled, requestId: "sched-1" });
    fake.enqueue({ event: api, requestId: "api-1" });
    run = startBootstrap(`${tmp}/opt`, {
      ...baseEnv(tmp),
      AWS_LAMBDA_RUNTIME_API: fake.api,
      _HANDLER: "kill.handler",
      LAMBDA_TASK_ROOT: `${tmp}/task`,
      AWS_REGION: "eu-west-1",
      AWS_ACCESS_KEY_ID: "AKIDTEST",
      AWS_SECRET_ACCESS_KEY: "test",
      AWS_ENDPOINT_URL_ECS: ecs.url,
      CLUSTER: "fluidity",
      SERVICE: "fluidity-server",
    });
    const outcomes = await fake.waitForOutcomes(2);
    assert.deepEqual(outcomes.map((o) => [o.kind, o.requestId]), [
      ["response", "sched-1"],
      ["response", "api-1"],
    ]);
    assert.deepEqual(outcomes[0]!.body, { status: "killed", desiredCount: 0 });
    const proxy = outcomes[1]!.body as { statusCode: number; body: string };
    assert.equal(proxy.statusCode, 200);
    assert.deepEqual(JSON.parse(proxy.body), { status: "killed", desiredCount: 0 });
    assert.deepEqual(ecs.calls.map((c) => c.target), ["UpdateService", "UpdateService"]);
    assert.deepEqual(ecs.calls[0]!.body, {
      cluster: "fluidity",
      service: "fluidity-server",
      desiredCount: 0,
    });
  } finally {
    // Closing the fake answers the pending GET next with 503: the runtime exits 1.
    await fake.close();
    if (run) {
      const { code } = await run.finish();
      assert.equal(code, 1);
    }
    await ecs.close();
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test({
  name: "bootstrap + runtime.js under @vercel/fun: success, handler error, deadline, init error",
  // @vercel/fun keeps Node handles (its Runtime API server, child process
  // watchers) that close asynchronously after destroy().
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const tmp = await Deno.makeTempDir({ prefix: "fluidity-fun-" });
    const task = `${tmp}/task`;
    const fns: Array<{ destroy(): Promise<void> }> = [];
    try {
      // fun runs $LAMBDA_TASK_ROOT/bootstrap: put the unpacked layer and the
      // fixture handlers in one directory, as a function with the runtime inside.
      await unpackLayer(task);
      for (const f of ["fixture.js", "init_fail.js"]) {
        await Deno.copyFile(new URL(`task/${f}`, FIXTURES), `${task}/${f}`);
      }
      const make = async (handler: string) => {
        const fn = await createFunction({
          Code: { Directory: task },
          Handler: handler,
          Runtime: "provided",
          Environment: {
            Variables: {
              ...baseEnv(tmp),
              // fun sends a constant Lambda-Runtime-Deadline-Ms of 5000 (not an
              // epoch time); the runtime then enforces this fallback instead.
              FLUIDITY_LAMBDA_FALLBACK_TIMEOUT_MS: "300",
            },
          },
        });
        fns.push(fn);
        return fn;
      };
      type Result = { StatusCode: number; FunctionError?: string; Payload: string };
      const invoke = async (fn: Awaited<ReturnType<typeof make>>, payload: unknown) =>
        await fn.invoke({
          InvocationType: "RequestResponse",
          Payload: JSON.stringify(payload),
        }) as unknown as Result;

      await t.step("success, twice on one warm process", async () => {
        const fn = await make("fixture.ok");
        for (const n of [1, 2]) {
          const res = await invoke(fn, { n });
          assert.equal(res.FunctionError, undefined, res.Payload);
          const body = JSON.parse(res.Payload);
          assert.deepEqual(body.echo, { n });
          assert.equal(typeof body.requestId, "string");
          assert.equal(body.remainingIsNumber, true);
        }
      });
      await t.step("handler error", async () => {
        const res = await invoke(await make("fixture.fail"), {});
        // fun labels every invocation error "Handled"; the payload is ours.
        assert.equal(res.FunctionError, "Handled");
        const body = JSON.parse(res.Payload);
        assert.equal(body.errorType, "TypeError");
        assert.equal(body.errorMessage, "fixture failure: bad input");
        assert.ok(Array.isArray(body.stackTrace));
      });
      await t.step("invocation past its deadline", async () => {
        const res = await invoke(await make("fixture.slow"), {});
        assert.equal(res.FunctionError, "Handled");
        const body = JSON.parse(res.Payload);
        assert.equal(body.errorType, "Sandbox.Timedout");
        assert.match(body.errorMessage, /^Task timed out after/);
      });
      await t.step("init error", async () => {
        const res = await invoke(await make("init_fail.handler"), {});
        assert.equal(res.FunctionError, "Unhandled");
        const body = JSON.parse(res.Payload);
        assert.equal(body.errorType, "ConfigError");
        assert.match(body.errorMessage, /CLUSTER is not set \(fixture\)/);
      });
    } finally {
      for (const fn of fns) await fn.destroy();
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
