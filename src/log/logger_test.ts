import assert from "node:assert/strict";
import {
  createLogger,
  type LoggerOptions,
  memoryLogger,
  redact,
  REDACTED,
  silentLogger,
} from "./logger.ts";

const T0 = Date.UTC(2026, 0, 2, 3, 4, 5, 6);
const PEM_KEY = [
  "-----BEGIN PRIVATE KEY-----",
  "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSECRETSECRETSECRET",
  "-----END PRIVATE KEY-----",
].join("\n");
const PEM_EC_KEY = PEM_KEY.replaceAll("PRIVATE KEY", "EC PRIVATE KEY");

function capture(options: LoggerOptions = {}) {
  const lines: string[] = [];
  const logger = createLogger({ now: () => T0, sink: (l) => lines.push(l), ...options });
  return { logger, lines };
}

Deno.test("createLogger() text format: time, padded level, message, key=value fields", () => {
  const { logger, lines } = capture();
  logger.info("listening", { addr: "127.0.0.1:8080", streams: 3, ok: true });
  logger.warn("odd value", { note: "has space", empty: "", obj: { a: 1 }, gone: undefined });
  assert.deepEqual(lines, [
    "2026-01-02T03:04:05.006Z INFO  listening addr=127.0.0.1:8080 streams=3 ok=true",
    '2026-01-02T03:04:05.006Z WARN  odd value note="has space" empty="" obj={"a":1}',
  ]);
});

Deno.test("createLogger() json format: one object per line with time, level, msg first", () => {
  const { logger, lines } = capture({ format: "json" });
  logger.error("dial failed", { target: "example.com:443", attempt: 2 });
  assert.equal(lines.length, 1);
  const rec = JSON.parse(lines[0]!);
  assert.deepEqual(Object.keys(rec).slice(0, 3), ["time", "level", "msg"]);
  assert.deepEqual(rec, {
    time: "2026-01-02T03:04:05.006Z",
    level: "error",
    msg: "dial failed",
    target: "example.com:443",
    attempt: 2,
  });
});

Deno.test("createLogger() json format: a field cannot overwrite time, level or msg", () => {
  const { logger, lines } = capture({ format: "json" });
  logger.info("real", { level: "error", msg: "fake", time: "never", n: 10n });
  const rec = JSON.parse(lines[0]!);
  assert.equal(rec.level, "info");
  assert.equal(rec.msg, "real");
  assert.equal(rec.time, "2026-01-02T03:04:05.006Z");
  assert.equal(rec.n, "10");
});

Deno.test("createLogger() filters below the configured level", () => {
  for (
    const [level, expected] of [
      ["debug", ["debug", "info", "warn", "error"]],
      ["info", ["info", "warn", "error"]],
      ["warn", ["warn", "error"]],
      ["error", ["error"]],
    ] as const
  ) {
    const { logger, lines } = capture({ level, format: "json" });
    logger.debug("d");
    logger.info("i");
    logger.warn("w");
    logger.error("e");
    assert.deepEqual(lines.map((l) => JSON.parse(l).level), expected, `level ${level}`);
  }
});

Deno.test("createLogger() defaults to info level and text format", () => {
  const { logger, lines } = capture();
  logger.debug("hidden");
  logger.info("shown");
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /^\S+ INFO {2}shown$/);
});

Deno.test("child() adds bound fields; call fields win; parent is unchanged", () => {
  const { logger, lines } = capture({ format: "json" });
  const conn = logger.child({ component: "agent", conn: 1 });
  const stream = conn.child({ stream: 7 });
  stream.info("opened", { conn: 2 });
  logger.info("plain");
  const [a, b] = lines.map((l) => JSON.parse(l));
  assert.equal(a.component, "agent");
  assert.equal(a.stream, 7);
  assert.equal(a.conn, 2);
  assert.deepEqual(Object.keys(b), ["time", "level", "msg"]);
});

Deno.test("child() keeps the parent's level and sink", () => {
  const { logger, lines } = capture({ level: "warn" });
  const child = logger.child({ c: 1 });
  child.info("dropped");
  child.warn("kept");
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /WARN {2}kept c=1$/);
});

Deno.test("logger redacts secret-named fields in both formats", () => {
  for (const format of ["text", "json"] as const) {
    const { logger, lines } = capture({ format });
    logger.child({ api_key: "AK-bound-1" }).info("call", {
      password: "hunter2",
      token: "tok-abc",
      apiKey: "AK-camel-2",
      "x-api-key": "AK-header-3",
      accessToken: "tok-camel",
      authorization: "Bearer zzz",
      nested: { client_secret: "cs-1", list: [{ password: "pw-in-list" }] },
      keyFile: "certs/agent.key",
      monkey: "banana",
    });
    const line = lines[0]!;
    for (
      const secret of [
        "AK-bound-1",
        "hunter2",
        "tok-abc",
        "AK-camel-2",
        "AK-header-3",
        "tok-camel",
        "zzz",
        "cs-1",
        "pw-in-list",
      ]
    ) {
      assert.ok(!line.includes(secret), `${format}: ${secret} leaked in ${line}`);
    }
    assert.ok(line.includes(REDACTED));
    // Names that merely contain "key" are not secrets.
    assert.ok(line.includes("certs/agent.key"));
    assert.ok(line.includes("banana"));
  }
});

Deno.test("logger redacts PEM private keys inside strings, messages and Errors", () => {
  for (const format of ["text", "json"] as const) {
    const { logger, lines } = capture({ format });
    logger.info(`loaded ${PEM_KEY} ok`, {
      blob: `prefix ${PEM_EC_KEY} suffix`,
      truncated: "-----BEGIN RSA PRIVATE KEY-----\nMIIEabc",
      err: new Error(`cannot parse ${PEM_KEY}`),
      cert: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
    });
    const line = lines[0]!;
    assert.doesNotMatch(line, /SECRETSECRET|MIIEabc|BEGIN [A-Z ]*PRIVATE/, `${format}: ${line}`);
    assert.match(line, /loaded \[redacted\] ok/);
    assert.match(line, /prefix \[redacted\] suffix/);
    assert.match(line, /cannot parse \[redacted\]/);
    assert.match(line, /BEGIN CERTIFICATE/, "certificates are public and stay");
  }
});

Deno.test("logger prints an Error field as its message", () => {
  const { logger, lines } = capture({ format: "json" });
  logger.error("failed", { err: new TypeError("bad thing") });
  assert.equal(JSON.parse(lines[0]!).err, "bad thing");
  const t = capture();
  t.logger.error("failed", { err: new Error("bad thing") });
  assert.match(t.lines[0]!, /err="bad thing"$/);
});

Deno.test("redact() leaves empty secrets visible and replaces deep or cyclic objects", () => {
  assert.deepEqual(redact({ api_key: "", token: null }), { api_key: "", token: null });
  const cyclic: Record<string, unknown> = { name: "a" };
  cyclic["self"] = cyclic;
  const out = JSON.stringify(redact(cyclic));
  assert.match(out, /\[nested\]/);
  const deep = { a: { b: { c: { d: { e: { f: { g: { password: "x" } } } } } } } };
  assert.doesNotMatch(JSON.stringify(redact(deep)), /"x"/);
});

Deno.test("memoryLogger() keeps JSON lines; silentLogger() writes nothing", () => {
  const m = memoryLogger();
  m.debug("one", { a: 1 });
  assert.equal(m.lines.length, 1);
  assert.equal(JSON.parse(m.lines[0]!).msg, "one");
  const s = silentLogger();
  s.error("nothing");
  s.child({ a: 1 }).error("still nothing");
});

Deno.test("createLogger() text format keeps one event on one line", () => {
  const { logger, lines } = capture();
  logger.warn("bad request line\nINFO forged\r\u001b[31m", { path: "/a\nb", esc: "\u001b[2J" });
  assert.equal(lines.length, 1);
  assert.doesNotMatch(lines[0]!, /\p{Cc}/u);
  assert.match(
    lines[0]!,
    /bad request line\\nINFO forged\\r\\u001b\[31m path="\/a\\nb" esc="\\u001b\[2J"$/,
  );
});
