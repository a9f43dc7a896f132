import assert from "node:assert/strict";
import {
  type LambdaContext,
  loadHandlerFromEnv,
  runRuntime,
  RuntimeError,
  toErrorBody,
} from "./runtime.ts";
import { startFakeRuntimeApi } from "./_fake_runtime_api.ts";

Deno.test("runRuntime() answers each invocation with the handler's JSON result", async () => {
  const fake = startFakeRuntimeApi();
  try {
    fake.enqueue({ event: { n: 1 }, requestId: "a-1" });
    fake.enqueue({ event: { n: 2 }, requestId: "a-2" });
    const seen: LambdaContext[] = [];
    const result = await runRuntime({
      api: fake.api,
      init: () => (event: unknown, ctx: LambdaContext) => {
        seen.push(ctx);
        return { doubled: (event as { n: number }).n * 2 };
      },
      maxInvocations: 2,
      log: () => {},
    });
    assert.deepEqual(result, { invocations: 2 });
    assert.deepEqual(fake.outcomes.map((o) => [o.kind, o.requestId, o.body]), [
      ["response", "a-1", { doubled: 2 }],
      ["response", "a-2", { doubled: 4 }],
    ]);
    assert.equal(seen[0]!.requestId, "a-1");
    assert.equal(seen[0]!.functionArn, "arn:aws:lambda:eu-west-1:123456789012:function:fake");
    assert.equal(seen[0]!.traceId, "Root=1-fake-1");
    assert.ok(seen[0]!.deadlineMs > Date.now());
    assert.ok(seen[0]!.remainingMs() > 0);
    assert.equal(seen[0]!.signal.aborted, false);
    assert.equal(fake.nextCalls(), 2, "the loop stops at maxInvocations without another GET");
  } finally {
    await fake.close();
  }
});

Deno.test("runRuntime() reports a thrown error as {errorMessage, errorType, stackTrace}", async () => {
  const fake = startFakeRuntimeApi();
  try {
    fake.enqueue({ event: {}, requestId: "e-1" });
    fake.enqueue({ event: {}, requestId: "e-2" });
    fake.enqueue({ event: "ok", requestId: "e-3" });
    let calls = 0;
    await runRuntime({
      api: fake.api,
      init: () => (event: unknown) => {
        calls++;
        if (calls === 1) throw new TypeError("bad input: 42");
        if (calls === 2) return Promise.reject("plain string");
        return event;
      },
      maxInvocations: 3,
      log: () => {},
    });
    const [first, second, third] = fake.outcomes;
    assert.equal(first!.kind, "error");
    assert.equal(first!.requestId, "e-1");
    const body = first!.body as { errorMessage: string; errorType: string; stackTrace: string[] };
    assert.equal(body.errorMessage, "bad input: 42");
    assert.equal(body.errorType, "TypeError");
    assert.ok(Array.isArray(body.stackTrace) && body.stackTrace.length > 0);
    assert.equal(first!.errorTypeHeader, "TypeError");
    assert.deepEqual(second!.body, { errorMessage: "plain string", errorType: "Error" });
    assert.deepEqual(
      [third!.kind, third!.body],
      ["response", "ok"],
      "the loop goes on after errors",
    );
  } finally {
    await fake.close();
  }
});

Deno.test("runRuntime() reports an init failure to /runtime/init/error and takes no invocation", async () => {
  const fake = startFakeRuntimeApi();
  try {
    fake.enqueue({ event: {} });
    class ConfigError extends Error {
      override name = "ConfigError";
    }
    const result = await runRuntime({
      api: fake.api,
      init: () => {
        throw new ConfigError("CLUSTER is required (set it on the function)");
      },
      log: () => {},
    });
    assert.equal(result.invocations, 0);
    assert.equal(result.initError?.errorType, "ConfigError");
    assert.equal(fake.outcomes.length, 1);
    assert.equal(fake.outcomes[0]!.kind, "init-error");
    assert.equal(fake.outcomes[0]!.errorTypeHeader, "ConfigError");
    assert.equal(
      (fake.outcomes[0]!.body as { errorMessage: string }).errorMessage,
      "CLUSTER is required (set it on the function)",
    );
    assert.equal(fake.nextCalls(), 0);
  } finally {
    await fake.close();
  }
});

Deno.test("runRuntime() answers 'Task timed out' when the handler passes its deadline", async () => {
  const fake = startFakeRuntimeApi();
  try {
    fake.enqueue({ event: "slow", requestId: "t-1", deadlineMs: Date.now() + 30 });
    fake.enqueue({ event: "fast", requestId: "t-2" });
    let abortedSeen = false;
    await runRuntime({
      api: fake.api,
      init: () => (event: unknown, ctx: LambdaContext) => {
        if (event === "fast") return "done";
        // A handler that only ends when told to: the deadline must end it.
        return new Promise((resolve) => {
          ctx.signal.addEventListener("abort", () => {
            abortedSeen = true;
            resolve("too late");
          });
        });
      },
      maxInvocations: 2,
      log: () => {},
    });
    const [slow, fast] = fake.outcomes;
    assert.equal(slow!.kind, "error");
    assert.equal(slow!.requestId, "t-1");
    const body = slow!.body as { errorMessage: string; errorType: string };
    assert.match(body.errorMessage, /^Task timed out after \d+\.\d\d seconds$/);
    assert.equal(body.errorType, "Sandbox.Timedout");
    assert.ok(abortedSeen, "the handler's signal fires at the deadline");
    assert.deepEqual([fast!.kind, fast!.body], ["response", "done"]);
  } finally {
    await fake.close();
  }
});

Deno.test("runRuntime() ignores an implausible deadline header and uses the fallback", async () => {
  const fake = startFakeRuntimeApi();
  try {
    // @vercel/fun sends a constant "5000": not an epoch time.
    fake.enqueue({ event: {}, requestId: "f-1", deadlineMs: "5000" });
    fake.enqueue({ event: {}, requestId: "f-2", deadlineMs: "5000" });
    const logs: string[] = [];
    const deadlines: number[] = [];
    await runRuntime({
      api: fake.api,
      init: () => (_e: unknown, ctx: LambdaContext) => {
        deadlines.push(ctx.deadlineMs);
        return new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
      },
      maxInvocations: 1,
      fallbackTimeoutMs: 20,
      log: (l) => logs.push(l),
    });
    assert.ok(deadlines[0]! > 1e12, "fallback deadline is an epoch time");
    assert.equal((fake.outcomes[0]!.body as { errorType: string }).errorType, "Sandbox.Timedout");
    assert.ok(logs.some((l) => l.includes("implausible Lambda-Runtime-Deadline-Ms")));

    // Without a fallback there is no runtime-side deadline.
    await runRuntime({
      api: fake.api,
      init: () => (_e: unknown, ctx: LambdaContext) => ctx.deadlineMs,
      maxInvocations: 1,
      log: () => {},
    });
    assert.deepEqual(fake.outcomes[1]!.body, null, "Infinity is JSON null");
  } finally {
    await fake.close();
  }
});

Deno.test("runRuntime() turns an unserialisable result into Runtime.MarshalError", async () => {
  const fake = startFakeRuntimeApi();
  try {
    fake.enqueue({ event: {} });
    await runRuntime({
      api: fake.api,
      init: () => () => ({ big: 1n }),
      maxInvocations: 1,
      log: () => {},
    });
    assert.equal(fake.outcomes[0]!.kind, "error");
    assert.equal(
      (fake.outcomes[0]!.body as { errorType: string }).errorType,
      "Runtime.MarshalError",
    );
  } finally {
    await fake.close();
  }
});

Deno.test("runRuntime() rejects when the Runtime API answers GET next with an error", async () => {
  const fetchStub: typeof fetch = () => Promise.resolve(new Response("boom", { status: 500 }));
  await assert.rejects(
    runRuntime({
      api: "127.0.0.1:9",
      init: () => () => null,
      fetch: fetchStub,
      maxInvocations: 1,
      log: () => {},
    }),
    /GET next answered 500: boom/,
  );
});

Deno.test("toErrorBody() keeps a RuntimeError's chosen type", () => {
  const body = toErrorBody(new RuntimeError("Runtime.HandlerNotFound", "no export"));
  assert.equal(body.errorType, "Runtime.HandlerNotFound");
  assert.equal(body.errorMessage, "no export");
});

Deno.test("loadHandlerFromEnv() resolves module.export under LAMBDA_TASK_ROOT", async (t) => {
  const root = await Deno.makeTempDir({ prefix: "fluidity-task-" });
  try {
    await Deno.writeTextFile(`${root}/fn.js`, "export const handler = (e) => ({ echo: e });\n");
    await Deno.writeTextFile(`${root}/broken.js`, "throw new RangeError('IDLE_MINUTES: 0');\n");
    await Deno.writeTextFile(`${root}/noexport.js`, "export const other = 1;\n");

    await t.step("a good module", async () => {
      const h = await loadHandlerFromEnv({ _HANDLER: "fn.handler", LAMBDA_TASK_ROOT: root });
      assert.deepEqual(await h(1, {} as LambdaContext), { echo: 1 });
    });
    const cases: Array<[string, Record<string, string>, RegExp]> = [
      ["no _HANDLER", { LAMBDA_TASK_ROOT: root }, /Runtime\.NoSuchHandler/],
      ["no task root", { _HANDLER: "fn.handler" }, /Runtime\.NoSuchHandler/],
      ["malformed", { _HANDLER: "fn", LAMBDA_TASK_ROOT: root }, /Runtime\.MalformedHandlerName/],
      [
        "missing module",
        { _HANDLER: "nope.handler", LAMBDA_TASK_ROOT: root },
        /Runtime\.ImportModuleError/,
      ],
      [
        "missing export",
        { _HANDLER: "noexport.handler", LAMBDA_TASK_ROOT: root },
        /Runtime\.HandlerNotFound/,
      ],
      ["module init throws", { _HANDLER: "broken.handler", LAMBDA_TASK_ROOT: root }, /RangeError/],
    ];
    for (const [name, env, type] of cases) {
      await t.step(name, async () => {
        const err = await loadHandlerFromEnv(env).then(() => null, (e) => e);
        assert.ok(err, "expected a failure");
        assert.match(toErrorBody(err).errorType, type);
      });
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
