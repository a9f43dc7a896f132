/**
 * Test helper: a fake Lambda Runtime API (2018-06-01) on 127.0.0.1:0, written
 * from the AWS documentation. It hands out queued invocations on
 * `GET …/invocation/next` and records every response, error and init error.
 */

/** One queued invocation. */
export interface FakeInvocation {
  event: unknown;
  /** Default: `req-<n>`. */
  requestId?: string;
  /** `Lambda-Runtime-Deadline-Ms`; default now + 60 s. A string is sent as is. */
  deadlineMs?: number | string;
}

/** What the runtime posted back. */
export interface FakeOutcome {
  kind: "response" | "error" | "init-error";
  /** Request id; "" for an init error. */
  requestId: string;
  /** The parsed JSON body. */
  body: unknown;
  /** `Lambda-Runtime-Function-Error-Type`, if sent. */
  errorTypeHeader: string | null;
}

export interface FakeRuntimeApi {
  /** `host:port`, the value for `AWS_LAMBDA_RUNTIME_API`. */
  api: string;
  enqueue(invocation: FakeInvocation): void;
  outcomes: FakeOutcome[];
  /** Resolves once `n` outcomes are recorded; rejects after `limitMs` (a safety bound, not an assertion). */
  waitForOutcomes(n: number, limitMs?: number): Promise<FakeOutcome[]>;
  /** Count of `GET next` calls. */
  nextCalls(): number;
  close(): Promise<void>;
}

/** Starts the fake. Pending `GET next` calls are answered 503 on `close()`. */
export function startFakeRuntimeApi(): FakeRuntimeApi {
  const queue: FakeInvocation[] = [];
  const waitingNext: Array<(inv: FakeInvocation | null) => void> = [];
  const outcomes: FakeOutcome[] = [];
  const outcomeWaiters: Array<() => void> = [];
  let served = 0;
  let nextCount = 0;
  let closed = false;

  function record(outcome: FakeOutcome): void {
    outcomes.push(outcome);
    for (const w of outcomeWaiters.splice(0)) w();
  }

  function takeNext(): Promise<FakeInvocation | null> {
    const inv = queue.shift();
    if (inv) return Promise.resolve(inv);
    if (closed) return Promise.resolve(null);
    return new Promise((resolve) => waitingNext.push(resolve));
  }

  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => {
      const path = new URL(req.url).pathname;
      const base = "/2018-06-01/runtime";
      if (req.method === "GET" && path === `${base}/invocation/next`) {
        nextCount++;
        const inv = await takeNext();
        if (!inv) return new Response("shutting down", { status: 503 });
        served++;
        const deadline = inv.deadlineMs ?? Date.now() + 60_000;
        return new Response(JSON.stringify(inv.event), {
          headers: {
            "content-type": "application/json",
            "lambda-runtime-aws-request-id": inv.requestId ?? `req-${served}`,
            "lambda-runtime-deadline-ms": String(deadline),
            "lambda-runtime-invoked-function-arn":
              "arn:aws:lambda:eu-west-1:123456789012:function:fake",
            "lambda-runtime-trace-id": `Root=1-fake-${served}`,
          },
        });
      }
      if (req.method !== "POST") return new Response("not found", { status: 404 });
      const text = await req.text();
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        return new Response(`{"errorMessage":"body is not JSON"}`, { status: 400 });
      }
      const errorTypeHeader = req.headers.get("lambda-runtime-function-error-type");
      if (path === `${base}/init/error`) {
        record({ kind: "init-error", requestId: "", body, errorTypeHeader });
        return new Response(`{"status":"OK"}`, { status: 202 });
      }
      const m = path.match(/^\/2018-06-01\/runtime\/invocation\/([^/]+)\/(response|error)$/);
      if (!m) return new Response("not found", { status: 404 });
      record({
        kind: m[2] as "response" | "error",
        requestId: decodeURIComponent(m[1]!),
        body,
        errorTypeHeader,
      });
      return new Response(`{"status":"OK"}`, { status: 202 });
    },
  );

  return {
    api: `127.0.0.1:${server.addr.port}`,
    enqueue(invocation) {
      const waiter = waitingNext.shift();
      if (waiter) waiter(invocation);
      else queue.push(invocation);
    },
    outcomes,
    waitForOutcomes(n, limitMs = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`fake Runtime API: ${outcomes.length}/${n} outcomes`)),
          limitMs,
        );
        const check = () => {
          if (outcomes.length >= n) {
            clearTimeout(timer);
            resolve(outcomes.slice());
          } else outcomeWaiters.push(check);
        };
        check();
      });
    },
    nextCalls: () => nextCount,
    async close() {
      closed = true;
      for (const w of waitingNext.splice(0)) w(null);
      await server.shutdown();
    },
  };
}
