/**
 * Fuzzing with a fixed seed and bounded iterations: the frame decoder (and
 * its payload decoders), the HTTP head parsers and a whole Session fed
 * hostile bytes. Each must fail only with its own error class, never hang,
 * and keep memory bounded. `FLUIDITY_FUZZ_SCALE=10` runs ten times as many
 * inputs; `FLUIDITY_FUZZ_SEED` picks another seed.
 */
import assert from "node:assert/strict";
import FakeTimers from "@sinonjs/fake-timers";
import {
  decodeGoAway,
  decodeHello,
  decodeOpen,
  decodeReset,
  decodeU32,
  encodeFrame,
  encodeGoAway,
  encodeHello,
  encodeOpen,
  encodeReset,
  encodeU32,
  type Frame,
  FrameDecoder,
  FrameError,
  FrameType,
  HEADER_SIZE,
  PROTOCOL_VERSION,
  ResetCode,
} from "../src/tunnel/frames.ts";
import {
  HttpError,
  latin1ToBytes,
  parseAbsoluteTarget,
  parseAuthority,
  parseRequestHead,
  parseResponseHead,
  responseFraming,
} from "../src/http/head.ts";
import { Reader, TooLargeError } from "../src/http/reader.ts";
import { copyBody, TruncatedBodyError } from "../src/http/body.ts";
import { memoryPair } from "../src/tunnel/memory_transport.ts";
import { ProtocolVersionError, Session } from "../src/tunnel/session.ts";
import { silentLogger } from "../src/log/logger.ts";

const SCALE = Number(Deno.env.get("FLUIDITY_FUZZ_SCALE") ?? "1");
const SEED = Number(Deno.env.get("FLUIDITY_FUZZ_SEED") ?? "0x5eed1e55");
const MiB = 1 << 20;

/** mulberry32: small, fast, deterministic. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return {
    next,
    int,
    pick: <T>(xs: readonly T[]): T => xs[int(xs.length)]!,
    bytes(n: number): Uint8Array {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = int(256);
      return out;
    },
  };
}
type Rng = ReturnType<typeof prng>;

function cat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Splits `b` into random chunks (sizes 1..maxChunk); returns the chunks. */
function chunkings(r: Rng, b: Uint8Array, maxChunk: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let o = 0;
  while (o < b.length) {
    const n = 1 + r.int(maxChunk);
    out.push(b.subarray(o, o + n));
    o += n;
  }
  return out;
}

// ---- frames ----

/** A random valid frame; also returns the frame for comparison. */
function randomFrame(r: Rng, maxPayload: number): Uint8Array {
  const stream = r.pick([0, 1, 2, 3, 5, 0x7fffffff, 0xffffffff, r.int(1000)]);
  switch (r.int(8)) {
    case 0:
      return encodeHello({
        version: PROTOCOL_VERSION,
        streamWindow: 1024 + r.int(MiB),
        linkWindow: 1024 + r.int(MiB),
        maxFrameSize: 1024 + r.int(MiB),
        software: "fuzz",
      });
    case 1:
      return encodeOpen(stream, `host${r.int(100)}.example:${r.int(65536)}`);
    case 2:
      return encodeFrame(FrameType.OPEN_OK, 0, stream);
    case 3:
      return encodeFrame(FrameType.DATA, r.int(2), stream, r.bytes(r.int(maxPayload + 1)));
    case 4:
      return encodeU32(FrameType.WINDOW, stream, r.int(2 ** 31));
    case 5:
      return encodeReset(stream, r.int(15) as ResetCode, "reason " + r.int(1000));
    case 6:
      return encodeFrame(FrameType.PING, r.int(2), 0, r.bytes(8));
    default:
      return encodeGoAway(stream, r.int(15) as ResetCode, "bye");
  }
}

/** One of several mutations of a valid frame stream. */
function mutate(r: Rng, b: Uint8Array, frameStarts: number[]): Uint8Array {
  const out = b.slice();
  switch (r.int(7)) {
    case 0: { // bit flips
      const flips = 1 + r.int(8);
      for (let i = 0; i < flips && out.length; i++) {
        const at = r.int(out.length);
        out[at] = out[at]! ^ (1 << r.int(8));
      }
      return out;
    }
    case 1: // truncation
      return out.subarray(0, r.int(out.length + 1));
    case 2: { // duplicate a slice somewhere
      const from = r.int(out.length + 1);
      const to = Math.min(out.length, from + r.int(200));
      const at = r.int(out.length + 1);
      return cat([out.subarray(0, at), out.slice(from, to), out.subarray(at)]);
    }
    case 3: { // length field corruption
      const f = r.pick(frameStarts);
      if (f + 3 <= out.length) {
        const len = r.pick([0, 1, 0xffffff, 0x10000, 0x10001, r.int(0x1000000)]);
        out[f] = len >>> 16;
        out[f + 1] = (len >>> 8) & 0xff;
        out[f + 2] = len & 0xff;
      }
      return out;
    }
    case 4: { // type corruption
      const f = r.pick(frameStarts);
      if (f + 3 < out.length) out[f + 3] = r.int(256);
      return out;
    }
    case 5: { // random bytes spliced in
      const at = r.int(out.length + 1);
      return cat([out.subarray(0, at), r.bytes(r.int(64)), out.subarray(at)]);
    }
    default: { // a payload byte range zeroed or filled
      const at = r.int(out.length + 1);
      out.fill(r.pick([0, 0xff, 0x80]), at, at + r.int(50));
      return out;
    }
  }
}

function validStream(r: Rng, maxPayload: number): { bytes: Uint8Array; starts: number[] } {
  const frames = Array.from({ length: 1 + r.int(12) }, () => randomFrame(r, maxPayload));
  const starts: number[] = [];
  let o = 0;
  for (const f of frames) {
    starts.push(o);
    o += f.length;
  }
  return { bytes: cat(frames), starts };
}

/** What a session would do with a decoded frame's payload. */
function decodePayload(f: Frame): void {
  switch (f.type) {
    case FrameType.HELLO:
      decodeHello(f.payload);
      break;
    case FrameType.OPEN:
      decodeOpen(f.payload);
      break;
    case FrameType.WINDOW:
      decodeU32(f.payload, "WINDOW");
      break;
    case FrameType.RESET:
      decodeReset(f.payload);
      break;
    case FrameType.GOAWAY:
      decodeGoAway(f.payload);
      break;
  }
}

/** Feeds chunks; returns frames decoded and whether a FrameError stopped it. */
function feed(
  d: FrameDecoder,
  chunks: Uint8Array[],
  maxFrame: number,
): { frames: number; error?: FrameError } {
  let frames = 0;
  try {
    for (const c of chunks) {
      d.push(c, (f) => {
        frames++;
        assert.ok(f.payload.length <= maxFrame);
        try {
          decodePayload(f);
        } catch (e) {
          if (!(e instanceof FrameError)) throw e;
        }
      });
      assert.ok(
        d.buffered <= maxFrame + HEADER_SIZE + c.length,
        `buffered ${d.buffered} > ${maxFrame} + ${HEADER_SIZE} + chunk ${c.length}`,
      );
      assert.ok(d.buffered < maxFrame + HEADER_SIZE, "a complete frame was left buffered");
    }
  } catch (e) {
    if (e instanceof FrameError) return { frames, error: e };
    throw e;
  }
  return { frames };
}

function heapMiB(): number {
  return Deno.memoryUsage().heapUsed / MiB;
}

Deno.test("fuzz: FrameDecoder takes random and mutated streams in random chunkings", () => {
  const r = prng(SEED);
  const maxFrame = 16 * 1024;
  const iterations = 10_000 * SCALE;
  const start = performance.now();
  const heap0 = heapMiB();
  let errors = 0;
  let decoded = 0;
  for (let i = 0; i < iterations; i++) {
    let input: Uint8Array;
    const kind = i % 4;
    if (kind === 0) {
      input = r.bytes(r.int(r.pick([16, 256, 4096])));
    } else if (kind === 1) {
      // Unmutated: must decode exactly into the frames it was made of.
      const { bytes, starts } = validStream(r, 2048);
      const d = new FrameDecoder(maxFrame);
      const got: number[] = [];
      for (const c of chunkings(r, bytes, r.pick([1, 7, 64, 5000]))) {
        d.push(c, (f) => got.push(f.payload.length));
      }
      assert.equal(got.length, starts.length);
      assert.equal(d.buffered, 0);
      decoded += got.length;
      continue;
    } else {
      const { bytes, starts } = validStream(r, 2048);
      input = mutate(r, bytes, starts);
      if (kind === 3) input = mutate(r, input, starts);
    }
    const d = new FrameDecoder(maxFrame);
    const res = feed(d, chunkings(r, input, r.pick([1, 3, 9, 100, 4096, 70_000])), maxFrame);
    decoded += res.frames;
    if (res.error) errors++;
  }
  const ms = performance.now() - start;
  const grown = heapMiB() - heap0;
  console.log(
    `  ${iterations} inputs, ${decoded} frames, ${errors} FrameErrors, ${ms.toFixed(0)} ms, ` +
      `heap +${grown.toFixed(1)} MiB`,
  );
  assert.ok(errors > iterations / 4, "the mutations do exercise the error paths");
  assert.ok(grown < 128, `heap grew by ${grown.toFixed(1)} MiB`);
});

Deno.test("fuzz: FrameDecoder never buffers past the limit on endless garbage", () => {
  const r = prng(SEED ^ 1);
  const maxFrame = 4096;
  for (let i = 0; i < 200 * SCALE; i++) {
    // A header announcing exactly the limit, then the payload in tiny pieces.
    const d = new FrameDecoder(maxFrame);
    const f = encodeFrame(FrameType.DATA, 0, 1, r.bytes(maxFrame));
    let n = 0;
    for (const c of chunkings(r, f, 13)) {
      d.push(c, () => n++);
      assert.ok(d.buffered <= maxFrame + HEADER_SIZE);
    }
    assert.equal(n, 1);
  }
});

// ---- HTTP heads ----

const METHODS = ["GET", "POST", "CONNECT", "HEAD", "PUT", "get", "G T", "", "OPTIONS"];
const TARGETS = [
  "http://a.example/p?q",
  "a.example:443",
  "/origin",
  "*",
  "http://[::1]:8080/",
  "https://x/",
  "http://u@h:0/",
  "",
];
const HEADERS = [
  "Host: a.example",
  "Content-Length: 5",
  "Content-Length: 5, 6",
  "Transfer-Encoding: chunked",
  "Transfer-Encoding: gzip",
  "Connection: keep-alive, Upgrade",
  "Proxy-Connection: close",
  " folded",
  "X-Bad : x",
  "X: \x00",
  "X: caf\xe9",
  "Upgrade: websocket",
];

function randomHead(r: Rng, request: boolean): string {
  const first = request
    ? `${r.pick(METHODS)} ${r.pick(TARGETS)} ${r.pick(["HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "x"])}`
    : `${r.pick(["HTTP/1.1", "HTTP/1.0", "HTTP/2"])} ${
      r.pick(["200", "204", "101", "99", "304"])
    } ${r.pick(["OK", "", "Weird Reason"])}`;
  const lines = Array.from({ length: r.int(8) }, () => r.pick(HEADERS));
  const eol = r.pick(["\r\n", "\n"]);
  return [first, ...lines].join(eol) + eol + eol;
}

function mutateText(r: Rng, s: string): string {
  const b = latin1ToBytes(s);
  switch (r.int(4)) {
    case 0: {
      for (let i = 0; i < 1 + r.int(4) && b.length; i++) b[r.int(b.length)] = r.int(256);
      return String.fromCharCode(...b);
    }
    case 1:
      return s.slice(0, r.int(s.length + 1));
    case 2: {
      const at = r.int(s.length + 1);
      return s.slice(0, at) + r.pick(["\r", "\n", "\x00", ":", " ", "\t", ",", "\x80"]) +
        s.slice(at);
    }
    default: {
      const at = r.int(s.length + 1);
      return s.slice(0, at) + s.slice(r.int(s.length + 1)) + s.slice(at);
    }
  }
}

/** Runs `fn`; only `allowed` errors may escape it. */
function only(allowed: Array<new (...a: never[]) => Error>, fn: () => void): boolean {
  try {
    fn();
    return true;
  } catch (e) {
    if (allowed.some((c) => e instanceof c)) return false;
    throw e;
  }
}

Deno.test("fuzz: HTTP head parsers throw only HttpError on random and mutated heads", () => {
  const r = prng(SEED ^ 2);
  const iterations = 8_000 * SCALE;
  const start = performance.now();
  const heap0 = heapMiB();
  let rejected = 0;
  for (let i = 0; i < iterations; i++) {
    const request = i % 2 === 0;
    let bytes: Uint8Array;
    if (i % 5 === 0) bytes = r.bytes(r.int(600));
    else {
      let s = randomHead(r, request);
      for (let m = r.int(3); m > 0; m--) s = mutateText(r, s);
      bytes = latin1ToBytes(s);
    }
    const ok = only([HttpError], () => {
      if (request) {
        const h = parseRequestHead(bytes);
        assert.ok(h.headers.length <= 256);
        if (h.method === "CONNECT") parseAuthority(h.target);
        else parseAbsoluteTarget(h.target);
      } else {
        const h = parseResponseHead(bytes);
        assert.ok(h.status >= 0 && h.status <= 999);
        responseFraming(h, r.pick(["GET", "HEAD", "CONNECT"]));
      }
    });
    if (!ok) rejected++;
  }
  // Huge and header-heavy heads stay bounded too.
  const many = "GET http://a/ HTTP/1.1\r\n" + "X: y\r\n".repeat(100_000) + "\r\n";
  assert.throws(() => parseRequestHead(latin1ToBytes(many)), HttpError);
  const ms = performance.now() - start;
  const grown = heapMiB() - heap0;
  console.log(`  ${iterations} heads, ${rejected} rejected, ${ms.toFixed(0)} ms`);
  assert.ok(rejected > iterations / 10);
  assert.ok(grown < 128, `heap grew by ${grown.toFixed(1)} MiB`);
});

Deno.test("fuzz: Reader.readHead() over random chunkings ends, or fails with its own errors", async () => {
  const r = prng(SEED ^ 3);
  for (let i = 0; i < 1_000 * SCALE; i++) {
    const s = i % 3 === 0 ? String.fromCharCode(...r.bytes(r.int(3000))) : randomHead(r, true);
    const parts = chunkings(r, latin1ToBytes(s), r.pick([1, 2, 5, 100]));
    const reader = new Reader(() => Promise.resolve(parts.shift() ?? null));
    try {
      const head = await reader.readHead(1024);
      if (head !== null) assert.ok(head.length <= 1024);
    } catch (e) {
      if (e instanceof TooLargeError) continue;
      assert.match((e as Error).message, /closed in the middle of a request head/);
    }
  }
});

Deno.test("fuzz: copyBody() over mutated chunked bodies is byte-faithful or fails cleanly", async () => {
  const r = prng(SEED ^ 5);
  let ok = 0;
  for (let i = 0; i < 2_000 * SCALE; i++) {
    const parts: string[] = [];
    for (let n = r.int(5); n > 0; n--) {
      const size = r.int(40);
      const ext = r.pick(["", ";a=b", " ;x", '; q="y"']);
      parts.push(`${size.toString(r.pick([16, 16, 10]))}${ext}\r\n${"d".repeat(size)}\r\n`);
    }
    parts.push("0\r\n" + r.pick(["", "T: 1\r\n", "A: b\r\nC: d\r\n"]) + "\r\n");
    let text = parts.join("") + "NEXT";
    for (let m = r.int(3); m > 0; m--) text = mutateText(r, text);
    const input = latin1ToBytes(text);
    const chunks = chunkings(r, input, r.pick([1, 3, 50, 5000]));
    const reader = new Reader(() => Promise.resolve(chunks.shift() ?? null));
    const out: Uint8Array[] = [];
    try {
      const n = await copyBody(reader, { kind: "chunked" }, (c) => {
        out.push(c.slice());
        return Promise.resolve();
      }, 1024);
      const rest: Uint8Array[] = [];
      for (let c = await reader.chunk(); c !== null; c = await reader.chunk()) rest.push(c);
      const written = cat(out);
      assert.equal(written.length, n);
      assert.deepEqual(cat([written, ...rest]), input, "body + rest is exactly the input");
      ok++;
    } catch (e) {
      if (
        e instanceof HttpError || e instanceof TruncatedBodyError || e instanceof TooLargeError ||
        /ended in the middle of a line/.test((e as Error).message)
      ) continue;
      throw e;
    }
  }
  assert.ok(ok > 100, `only ${ok} bodies parsed`);
});

// ---- a whole session ----

const sessionOptions = {
  streamWindow: 64 * 1024,
  linkWindow: 256 * 1024,
  maxFrameSize: 16 * 1024,
  maxStreams: 16,
  keepaliveIntervalMs: 0,
  keepaliveTimeoutMs: 1000,
  logger: silentLogger(),
};

Deno.test("fuzz: a Session fed garbage ends with a protocol error, never an uncaught exception", async () => {
  // The session's close path arms timers; fake them so none outlive the test.
  const clock = FakeTimers.install({ toFake: ["setTimeout", "clearTimeout"] });
  const unhandled: unknown[] = [];
  const onUnhandled = (e: PromiseRejectionEvent) => {
    unhandled.push(e.reason);
    e.preventDefault();
  };
  globalThis.addEventListener("unhandledrejection", onUnhandled);
  try {
    const r = prng(SEED ^ 4);
    const iterations = 2_000 * SCALE;
    const heap0 = heapMiB();
    const ends: Record<string, number> = {};
    const internal: string[] = [];
    for (let i = 0; i < iterations; i++) {
      const [, tb] = memoryPair();
      const accepts = i % 2 === 0;
      const session: Session = new Session(tb, {
        ...sessionOptions,
        initiator: i % 4 < 2,
        onStream: accepts
          ? (s) => {
            session.accept(s);
            s.read().catch(() => {});
            s.write(new Uint8Array(10)).catch(() => {});
          }
          : undefined,
      });
      let end: string | undefined;
      session.closed.then((e) => {
        end = e.error?.name ?? "clean";
        // The session turns any exception into a FrameError: make sure none
        // of them was a TypeError or the like from its own code.
        if (
          /Cannot read|is not a function|is not iterable|undefined|NaN/.test(e.error?.message ?? "")
        ) {
          internal.push(e.error!.message);
        }
      });
      // Usually a valid HELLO first, so later frames reach the stream logic.
      const hello = encodeHello({
        version: PROTOCOL_VERSION,
        streamWindow: 64 * 1024,
        linkWindow: 256 * 1024,
        maxFrameSize: 16 * 1024,
        software: "fuzz",
      });
      const { bytes, starts } = validStream(r, 1024);
      let input = cat([i % 5 === 0 ? new Uint8Array(0) : hello, bytes]);
      if (i % 3 !== 0) input = mutate(r, input, starts.map((s) => s + hello.length));
      if (i % 7 === 0) input = r.bytes(r.int(2000));
      // Then bytes that complete any pending frame and start a header of an
      // unknown type and too large a length: the link must be gone by the end.
      input = cat([
        input,
        new Uint8Array(sessionOptions.maxFrameSize + 2 * HEADER_SIZE).fill(0xee),
      ]);
      for (const c of chunkings(r, input, r.pick([1, 16, 512, 100_000]))) tb.inject(c);
      await clock.tickAsync(0);
      assert.ok(session.isClosed, `session ${i} still open after garbage`);
      assert.ok(end !== undefined);
      ends[end] = (ends[end] ?? 0) + 1;
      await clock.runAllAsync();
    }
    const grown = heapMiB() - heap0;
    console.log(`  ${iterations} sessions ended: ${JSON.stringify(ends)}`);
    for (const name of Object.keys(ends)) {
      assert.ok(
        ["FrameError", ProtocolVersionError.name].includes(name),
        `a session ended with ${name}`,
      );
    }
    assert.deepEqual(unhandled, []);
    assert.deepEqual(internal, []);
    assert.ok(grown < 128, `heap grew by ${grown.toFixed(1)} MiB`);
  } finally {
    globalThis.removeEventListener("unhandledrejection", onUnhandled);
    clock.uninstall();
  }
});
