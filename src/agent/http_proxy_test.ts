import assert from "node:assert/strict";
import { silentLogger } from "../log/logger.ts";
import { memoryPair, type MemoryTransport } from "../tunnel/memory_transport.ts";
import { Session, type SessionOptions } from "../tunnel/session.ts";
import type { TunnelStream } from "../tunnel/stream.ts";
import { FrameType, ResetCode } from "../tunnel/frames.ts";
import { Reader } from "../http/reader.ts";
import {
  errorResponse,
  type HttpProxyOptions,
  startHttpProxy,
  statusForReset,
} from "./http_proxy.ts";
import { NoTunnelError } from "./link_manager.ts";

const latin1 = new TextDecoder("latin1");
const bytes = (s: string) => new Uint8Array([...s].map((c) => c.charCodeAt(0)));

Deno.test("errorResponse() is a complete HTTP/1.1 response with a Fluidity-Error header", () => {
  const text = latin1.decode(
    errorResponse(502, "breaker-open", "a.example:443: open\r\nX-Evil: 1"),
  );
  const [head, body] = text.split("\r\n\r\n") as [string, string];
  const lines = head.split("\r\n");
  assert.equal(lines[0], "HTTP/1.1 502 Bad Gateway");
  assert.ok(lines.includes("Fluidity-Error: breaker-open"));
  assert.ok(lines.includes("Connection: close"));
  assert.ok(
    !lines.some((l) => l.startsWith("X-Evil")),
    "CR/LF in the message cannot inject headers",
  );
  const cl = Number(/Content-Length: (\d+)/.exec(head)![1]);
  assert.equal(new TextEncoder().encode(body).length, cl);
  assert.equal(body, "502 Bad Gateway: a.example:443: open X-Evil: 1\n");
  const extra = latin1.decode(
    errorResponse(407, "proxy-auth", "auth", "Proxy-Authenticate: Basic\r\n"),
  );
  assert.match(extra, /^HTTP\/1\.1 407 Proxy Authentication Required\r\n/);
  assert.match(extra, /\r\nProxy-Authenticate: Basic\r\n/);
  assert.match(latin1.decode(errorResponse(418, "x", "y")), /^HTTP\/1\.1 418 Error\r\n/);
});

Deno.test("statusForReset() maps reset codes to proxy statuses", () => {
  assert.equal(statusForReset(ResetCode.TIMEOUT), 504);
  assert.equal(statusForReset(ResetCode.FORBIDDEN), 403);
  assert.equal(statusForReset(ResetCode.LIMIT), 503);
  assert.equal(statusForReset(ResetCode.GOING_AWAY), 503);
  for (
    const c of [
      ResetCode.REFUSED,
      ResetCode.UNREACHABLE,
      ResetCode.DNS,
      ResetCode.BREAKER_OPEN,
      ResetCode.CONN_RESET,
      ResetCode.LINK_CLOSED,
      99,
    ]
  ) {
    assert.equal(statusForReset(c), 502, String(c));
  }
});

// ---- the proxy over an in-memory tunnel ----

const base: Omit<SessionOptions, "initiator"> = {
  streamWindow: 64 * 1024,
  linkWindow: 256 * 1024,
  maxFrameSize: 64 * 1024,
  maxStreams: 100,
  keepaliveIntervalMs: 0,
  keepaliveTimeoutMs: 1000,
  logger: silentLogger(),
};

/** Origins answering with a malformed response ("" = close without one). */
const BAD_RESPONSES: Record<string, string> = {
  "cl-te": "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
  "two-cl": "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
  "bad-status": "HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n",
  "folded": "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n",
  "nul": "HTTP/1.1 200 OK\r\nX-A: a\x00\r\nContent-Length: 0\r\n\r\n",
  "huge-head": `HTTP/1.1 200 OK\r\nX-Big: ${"h".repeat(300 * 1024)}\r\n\r\n`,
  "silent": "",
  "half-body": "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part",
  "bad-chunk": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n",
};

/** Far side of the tunnel: a tiny origin per target name. */
function farSide(s: TunnelStream, server: Session): void {
  const [host] = s.target.split(":");
  const resets: Record<string, [ResetCode, string]> = {
    refused: [ResetCode.REFUSED, "refused:80: connection refused"],
    forbidden: [ResetCode.FORBIDDEN, "refused by policy: 127.0.0.1 is a loopback address"],
    slow: [ResetCode.TIMEOUT, "slow:80: no answer within 10s"],
    broken: [ResetCode.BREAKER_OPEN, "circuit breaker open"],
  };
  const r = resets[host!];
  if (r) return s.reset(r[0], r[1]);
  server.accept(s);
  (async () => {
    const reader = new Reader(() => s.read());
    const canned = BAD_RESPONSES[host!];
    if (canned !== undefined) {
      await reader.readHead(64 * 1024);
      if (canned) await s.write(bytes(canned));
      s.closeWrite();
      return;
    }
    if (host === "sink") {
      // Like a real origin: reads the whole body (until FIN) before answering.
      await reader.readHead(64 * 1024);
      for (let c = await reader.chunk(); c !== null; c = await reader.chunk()) { /* drain */ }
      await s.write(bytes("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
      s.closeWrite();
      return;
    }
    if (host === "echo") {
      // CONNECT target: echo bytes until FIN.
      for (let c = await reader.chunk(); c !== null; c = await reader.chunk()) await s.write(c);
      s.closeWrite();
      return;
    }
    for (;;) {
      const head = await reader.readHead(64 * 1024);
      if (head === null) break;
      const first = latin1.decode(head).split("\r\n")[0]!;
      const body = `you sent: ${first}`;
      await s.write(bytes(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`));
    }
    s.closeWrite();
  })().catch(() => {});
}

/**
 * A proxy over an in-memory link to {@linkcode farSide}; `tap` sees the
 * agent's side of the link before the session starts.
 */
async function withProxy(
  fn: (addr: string) => Promise<void>,
  o: Partial<HttpProxyOptions> = {},
  tap?: (agentSide: MemoryTransport) => void,
): Promise<void> {
  const [ta, tb] = memoryPair();
  tap?.(ta);
  const client = new Session(ta, { ...base, initiator: true });
  const server: Session = new Session(tb, {
    ...base,
    initiator: false,
    onStream: (s) => farSide(s, server),
  });
  await client.ready;
  const proxy = startHttpProxy("127.0.0.1:0", {
    openStream: (target) => {
      if (target.startsWith("nolink:")) {
        return Promise.reject(new NoTunnelError("no tunnel to the server within 10s"));
      }
      return client.open(target); // at once, as the agent does while its link is up
    },
    openTimeoutMs: 5000,
    headTimeoutMs: 5000,
    idleTimeoutMs: 5000,
    maxHeadSize: 64 * 1024,
    maxConnections: 100,
    logger: silentLogger(),
    ...o,
  });
  try {
    await fn(proxy.address);
  } finally {
    await proxy.close();
    client.destroy(new Error("test over"));
  }
}

/**
 * Sends `request` and reads until the proxy closes or `until` matches; after
 * `timeoutMs` gives up and returns what it has plus "<timeout>".
 */
async function exchange(
  addr: string,
  request: string,
  until?: RegExp,
  o: { timeoutMs?: number; closeWrite?: boolean } = {},
): Promise<string> {
  const [host, port] = addr.split(":");
  const conn = await Deno.connect({ hostname: host!, port: Number(port) });
  await conn.write(bytes(request));
  if (o.closeWrite) await conn.closeWrite();
  let out = "";
  const buf = new Uint8Array(65536);
  let timedOut = false;
  const t = setTimeout(() => {
    timedOut = true;
    conn.close();
  }, o.timeoutMs ?? 10_000);
  try {
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      out += latin1.decode(buf.subarray(0, n));
      if (until?.test(out)) break;
    }
  } finally {
    clearTimeout(t);
    if (!timedOut) conn.close();
  }
  return timedOut ? out + "<timeout>" : out;
}

const statusLine = (res: string) => res.split("\r\n")[0];
const header = (res: string, name: string) =>
  new RegExp(`\r\n${name}: ([^\r\n]*)\r\n`, "i").exec(res)?.[1];

Deno.test("HTTP proxy forwards absolute-form requests and keeps the client connection", async () => {
  await withProxy(async (addr) => {
    const res = await exchange(
      addr,
      "GET http://origin/a HTTP/1.1\r\nHost: origin\r\n\r\n" +
        "GET http://origin/b?c HTTP/1.1\r\nHost: origin\r\nConnection: close\r\n\r\n",
    );
    assert.equal(
      res,
      "HTTP/1.1 200 OK\r\nContent-Length: 25\r\n\r\nyou sent: GET /a HTTP/1.1" +
        "HTTP/1.1 200 OK\r\nContent-Length: 27\r\n\r\nyou sent: GET /b?c HTTP/1.1",
    );
  });
});

Deno.test("HTTP proxy answers malformed requests with 400/431/505 and closes", async () => {
  await withProxy(async (addr) => {
    const cases: Array<[string, string, string]> = [
      ["GET http://origin/ HTTP/1.1 extra\r\n\r\n", "HTTP/1.1 400 Bad Request", "bad-request"],
      ["GET /local HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400 Bad Request", "bad-request"],
      ["GET https://origin/ HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request", "bad-request"],
      [
        "POST http://origin/ HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 400 Bad Request",
        "bad-request",
      ],
      [
        "GET http://origin/ HTTP/2.0\r\n\r\n",
        "HTTP/1.1 505 HTTP Version Not Supported",
        "bad-request",
      ],
      [
        `GET http://origin/ HTTP/1.1\r\nX: ${"a".repeat(70_000)}\r\n\r\n`,
        "HTTP/1.1 431 Request Header Fields Too Large",
        "head-too-large",
      ],
      ["CONNECT origin HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request", "bad-request"],
      ["CONNECT origin:0 HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request", "bad-request"],
    ];
    for (const [req, status, reason] of cases) {
      const res = await exchange(addr, req);
      assert.equal(statusLine(res), status, JSON.stringify(req.slice(0, 60)));
      assert.equal(header(res, "Fluidity-Error"), reason);
      assert.equal(header(res, "Connection"), "close");
    }
  });
});

Deno.test("HTTP proxy turns stream resets into 502/403/504 with the reason named", async () => {
  await withProxy(async (addr) => {
    const cases: Array<[string, string, string]> = [
      ["refused", "HTTP/1.1 502 Bad Gateway", "refused"],
      ["forbidden", "HTTP/1.1 403 Forbidden", "forbidden"],
      ["slow", "HTTP/1.1 504 Gateway Timeout", "timeout"],
      ["broken", "HTTP/1.1 502 Bad Gateway", "breaker-open"],
      ["nolink", "HTTP/1.1 503 Service Unavailable", "no-tunnel"],
    ];
    for (const [host, status, reason] of cases) {
      const res = await exchange(addr, `GET http://${host}:80/ HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
      assert.equal(statusLine(res), status, host);
      assert.equal(header(res, "Fluidity-Error"), reason, host);
      const c = await exchange(addr, `CONNECT ${host}:80 HTTP/1.1\r\n\r\n`);
      assert.equal(statusLine(c), status, `CONNECT ${host}`);
    }
    assert.match(
      await exchange(addr, "GET http://forbidden/ HTTP/1.1\r\n\r\n"),
      /loopback address/,
    );
  });
});

Deno.test("HTTP proxy CONNECT answers 200 and then pipes bytes both ways", async () => {
  await withProxy(async (addr) => {
    const res = await exchange(addr, "CONNECT echo:443 HTTP/1.1\r\n\r\nping-pong", /ping-pong$/);
    assert.equal(res, "HTTP/1.1 200 Connection Established\r\n\r\nping-pong");
  });
});

Deno.test("HTTP proxy refuses connections past maxConnections with 503", async () => {
  await withProxy(async (addr) => {
    const [host, port] = addr.split(":");
    const hold = await Deno.connect({ hostname: host!, port: Number(port) });
    try {
      // Make sure the first connection is accepted before the second arrives.
      await hold.write(bytes("GET http://origin/ HTTP/1.1\r\n\r\n"));
      await hold.read(new Uint8Array(1024));
      const res = await exchange(addr, "GET http://origin/ HTTP/1.1\r\n\r\n");
      assert.equal(statusLine(res), "HTTP/1.1 503 Service Unavailable");
      assert.equal(header(res, "Fluidity-Error"), "too-many-connections");
    } finally {
      hold.close();
    }
  }, { maxConnections: 1 });
});

Deno.test("HTTP proxy answers 400 at once when a forwarded request body turns out malformed", async () => {
  await withProxy(async (addr) => {
    // The head is valid and forwarded; the chunked body then breaks. The
    // origin waits for the rest of the body, so the proxy must end the stream
    // and answer itself instead of waiting for the origin's response.
    for (const body of ["zz\r\nhello\r\n0\r\n\r\n", "5\r\nhelloX\n0\r\n\r\n"]) {
      const res = await exchange(
        addr,
        `POST http://sink/ HTTP/1.1\r\nHost: sink\r\nTransfer-Encoding: chunked\r\n\r\n${body}`,
        undefined,
        { timeoutMs: 3000 },
      );
      assert.equal(statusLine(res), "HTTP/1.1 400 Bad Request", JSON.stringify(res));
    }
  });
});

Deno.test("HTTP proxy closes at once when the client leaves mid-body", async () => {
  await withProxy(async (addr) => {
    for (
      const req of [
        "POST http://sink/ HTTP/1.1\r\nHost: sink\r\nContent-Length: 1000\r\n\r\njust ten b",
        "POST http://sink/ HTTP/1.1\r\nHost: sink\r\nTransfer-Encoding: chunked\r\n\r\n100\r\nab",
      ]
    ) {
      const res = await exchange(addr, req, undefined, { timeoutMs: 3000, closeWrite: true });
      assert.ok(
        !res.endsWith("<timeout>"),
        `the proxy kept the connection: ${JSON.stringify(res)}`,
      );
    }
  });
});

Deno.test("HTTP proxy answers 502 to malformed origin responses", async () => {
  await withProxy(async (addr) => {
    for (
      const [host, re] of [
        ["cl-te", /smuggling/],
        ["two-cl", /conflicting Content-Length/],
        ["bad-status", /malformed status line/],
        ["folded", /malformed response/],
        ["nul", /malformed response/],
        ["huge-head", /origin response head too large/],
        ["silent", /closed the connection without a response/],
      ] as const
    ) {
      const res = await exchange(addr, `GET http://${host}/ HTTP/1.1\r\nHost: x\r\n\r\n`);
      assert.equal(statusLine(res), "HTTP/1.1 502 Bad Gateway", `${host}: ${res.slice(0, 200)}`);
      assert.equal(header(res, "Fluidity-Error"), "bad-origin-response", host);
      assert.match(res, re, host);
    }
  });
});

Deno.test("HTTP proxy closes the client when the response body breaks after its head", async () => {
  await withProxy(async (addr) => {
    for (const host of ["half-body", "bad-chunk"]) {
      const res = await exchange(
        addr,
        `GET http://${host}/ HTTP/1.1\r\nHost: x\r\n\r\n`,
        undefined,
        { timeoutMs: 3000 },
      );
      assert.equal(statusLine(res), "HTTP/1.1 200 OK", host);
      assert.ok(!res.endsWith("<timeout>"), `${host}: the proxy kept the connection`);
      // No second status line: the head was already sent, so the error is the close.
      assert.equal(res.match(/HTTP\/1\.1 /g)?.length, 1, host);
    }
  });
});

Deno.test("HTTP proxy takes a head of exactly maxHeadSize and refuses one byte more", async () => {
  await withProxy(async (addr) => {
    const make = (size: number) => {
      const start = "GET http://origin/ HTTP/1.1\r\nConnection: close\r\nX-Pad: ";
      return start + "p".repeat(size - start.length - 4) + "\r\n\r\n";
    };
    assert.equal(make(2048).length, 2048);
    assert.equal(statusLine(await exchange(addr, make(2048))), "HTTP/1.1 200 OK");
    assert.equal(
      statusLine(await exchange(addr, make(2049))),
      "HTTP/1.1 431 Request Header Fields Too Large",
    );
  }, { maxHeadSize: 2048 });
});

Deno.test("HTTP proxy answers 408 to a silent client and closes an idle keep-alive connection", async () => {
  await withProxy(async (addr) => {
    const t0 = Date.now();
    const silent = await exchange(addr, "GET http://a", undefined, { timeoutMs: 5000 });
    assert.match(silent, /^HTTP\/1\.1 408 /);
    assert.match(silent, /Fluidity-Error: head-timeout/);
    assert.ok(Date.now() - t0 >= 300, "408 before the head timeout");

    // A complete exchange, then silence: closed without a response after the idle timeout.
    const idle = await exchange(
      addr,
      "GET http://echo.test/x HTTP/1.1\r\nHost: echo.test\r\n\r\n",
      undefined,
      { timeoutMs: 5000 },
    );
    assert.match(idle, /^HTTP\/1\.1 200 /);
    assert.doesNotMatch(idle, /<timeout>|408/);
  }, { headTimeoutMs: 300, idleTimeoutMs: 300 });
});

Deno.test("HTTP proxy: a fresh request's head leaves in the same tick as its OPEN (one link write)", async () => {
  let tickOver = false;
  let headInOpeningTick: boolean | undefined;
  await withProxy(
    async (addr) => {
      const res = await exchange(
        addr,
        "GET http://example.com/x HTTP/1.1\r\nHost: example.com\r\n\r\n",
        /you sent/,
      );
      assert.match(res, /^HTTP\/1\.1 200 OK/);
      assert.equal(headInOpeningTick, true);
    },
    {},
    (agentSide) => {
      const write = agentSide.write.bind(agentSide);
      agentSide.write = (b) => {
        if (b[3] === FrameType.OPEN) queueMicrotask(() => (tickOver = true));
        if (b[3] === FrameType.DATA && headInOpeningTick === undefined) {
          headInOpeningTick = !tickOver;
        }
        write(b);
      };
    },
  );
});
