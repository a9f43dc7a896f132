import assert from "node:assert/strict";
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
  FLAG_FIN,
  type Frame,
  FrameDecoder,
  FrameError,
  FrameType,
  HEADER_SIZE,
  MAGIC,
  MAX_FRAME_LENGTH,
  PROTOCOL_VERSION,
  ResetCode,
  resetCodeName,
} from "./frames.ts";

function decodeAll(bytes: Uint8Array, max = 64 * 1024, splits: number[] = []): Frame[] {
  const d = new FrameDecoder(max);
  const out: Frame[] = [];
  let prev = 0;
  for (const s of [...splits, bytes.length]) {
    d.push(bytes.subarray(prev, s), (f) => out.push({ ...f, payload: f.payload.slice() }));
    prev = s;
  }
  return out;
}

function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const hello = {
  version: PROTOCOL_VERSION,
  streamWindow: 65536,
  linkWindow: 1 << 20,
  maxFrameSize: 16384,
  software: "fluidity/test ü",
};

function helloPayload(bytes: Uint8Array): Uint8Array {
  return bytes.subarray(HEADER_SIZE);
}

Deno.test("encodeFrame() writes the 9-byte header big-endian", () => {
  const f = encodeFrame(FrameType.DATA, 1, 0x01020304, new Uint8Array([9, 8, 7]));
  assert.deepEqual([...f], [0, 0, 3, 3, 1, 1, 2, 3, 4, 9, 8, 7]);
  const big = encodeFrame(FrameType.PING, 0, 0xffffffff, new Uint8Array(0x10203));
  assert.deepEqual([...big.subarray(0, 9)], [1, 2, 3, 6, 0, 255, 255, 255, 255]);
});

Deno.test("encodeFrame() refuses a payload beyond the u24 length", () => {
  assert.throws(
    () => encodeFrame(FrameType.DATA, 0, 1, new Uint8Array(MAX_FRAME_LENGTH + 1)),
    RangeError,
  );
});

Deno.test("FrameDecoder round-trips every frame type and the top stream id", () => {
  const frames = [
    encodeHello(hello),
    encodeOpen(1, "example.com:443"),
    encodeFrame(FrameType.OPEN_OK, 0, 1),
    encodeFrame(FrameType.DATA, 1, 1, new Uint8Array([1, 2, 3])),
    encodeU32(FrameType.WINDOW, 0xffffffff, 123456),
    encodeReset(3, ResetCode.REFUSED, "nope"),
    encodeFrame(FrameType.PING, 1, 0, new Uint8Array(8)),
    encodeGoAway(7, ResetCode.GOING_AWAY, "bye"),
  ];
  const got = decodeAll(cat(...frames));
  assert.deepEqual(got.map((f) => f.type), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.equal(got[4]!.stream, 0xffffffff);
  assert.equal(decodeU32(got[4]!.payload, "WINDOW"), 123456);
  assert.deepEqual(decodeHello(got[0]!.payload), hello);
  assert.equal(decodeOpen(got[1]!.payload), "example.com:443");
  assert.deepEqual([...got[3]!.payload], [1, 2, 3]);
  assert.equal(got[3]!.flags, 1);
  assert.deepEqual(decodeReset(got[5]!.payload), { code: ResetCode.REFUSED, reason: "nope" });
  assert.deepEqual(decodeGoAway(got[7]!.payload), {
    lastStream: 7,
    code: ResetCode.GOING_AWAY,
    reason: "bye",
  });
});

Deno.test("FrameDecoder gives the same frames for the stream split at every offset", () => {
  const stream = cat(
    encodeOpen(1, "a.example:80"),
    encodeFrame(FrameType.DATA, 0, 1, new Uint8Array(40).map((_, i) => i)),
    encodeFrame(FrameType.OPEN_OK, 0, 2),
    encodeReset(1, ResetCode.CANCEL, "x"),
  );
  const whole = decodeAll(stream);
  assert.equal(whole.length, 4);
  for (let i = 0; i <= stream.length; i++) {
    assert.deepEqual(decodeAll(stream, 64 * 1024, [i]), whole, `split at ${i}`);
  }
  for (let i = 0; i <= stream.length; i++) {
    for (let j = i; j <= stream.length; j += 3) {
      assert.deepEqual(decodeAll(stream, 64 * 1024, [i, j]), whole, `split at ${i},${j}`);
    }
  }
  // One byte at a time.
  assert.deepEqual(
    decodeAll(stream, 64 * 1024, [...Array(stream.length).keys()].slice(1)),
    whole,
  );
});

Deno.test("FrameDecoder holds a truncated header across chunks without emitting", () => {
  const f = encodeFrame(FrameType.DATA, 0, 5, new Uint8Array([1, 2]));
  for (let cut = 1; cut < f.length; cut++) {
    const d = new FrameDecoder(1024);
    let n = 0;
    d.push(f.subarray(0, cut), () => n++);
    assert.equal(n, 0, `cut ${cut}`);
    assert.equal(d.buffered, cut);
    d.push(f.subarray(cut), () => n++);
    assert.equal(n, 1);
    assert.equal(d.buffered, 0);
  }
});

Deno.test("FrameDecoder ignores empty chunks", () => {
  const d = new FrameDecoder(1024);
  d.push(new Uint8Array(0), () => assert.fail("no frame"));
  assert.equal(d.buffered, 0);
});

Deno.test("FrameDecoder rejects an unknown frame type, whatever the chunking", () => {
  const bad = cat(encodeFrame(FrameType.PING, 0, 0, new Uint8Array(8)), new Uint8Array(9));
  bad[bad.length - 6] = 9; // type byte of the second frame
  for (let cut = 0; cut <= bad.length; cut++) {
    const d = new FrameDecoder(1024);
    const frames: Frame[] = [];
    assert.throws(
      () => {
        d.push(bad.subarray(0, cut), (f) => frames.push(f));
        d.push(bad.subarray(cut), (f) => frames.push(f));
      },
      (e: unknown) => e instanceof FrameError && /unknown frame type 9/.test(e.message),
      `cut ${cut}`,
    );
    assert.equal(frames.length, 1);
  }
  for (const t of [9, 0x7f, 0xff]) {
    const f = encodeFrame(FrameType.DATA, 0, 1);
    f[3] = t;
    assert.throws(() => new FrameDecoder(1024).push(f, () => {}), FrameError);
  }
});

Deno.test("FrameDecoder rejects an oversized length from the header alone", () => {
  // Only the header arrives: the decoder must not wait for (or buffer) 16 MiB.
  const head = encodeFrame(FrameType.DATA, 0, 1).slice();
  head[0] = 0xff;
  head[1] = 0xff;
  head[2] = 0xff;
  for (let cut = 0; cut <= HEADER_SIZE; cut++) {
    const d = new FrameDecoder(16 * 1024);
    assert.throws(
      () => {
        d.push(head.subarray(0, cut), () => {});
        d.push(head.subarray(cut), () => {});
      },
      (e: unknown) =>
        e instanceof FrameError && /16777215 bytes exceeds the limit of 16384/.test(e.message),
    );
  }
  // Exactly the limit is fine.
  const ok = encodeFrame(FrameType.DATA, 0, 1, new Uint8Array(16 * 1024));
  assert.equal(decodeAll(ok, 16 * 1024).length, 1);
  assert.throws(() => decodeAll(ok, 16 * 1024 - 1), FrameError);
});

Deno.test("FrameDecoder.buffered stays within maxFrameSize + one chunk", () => {
  const max = 4096;
  const d = new FrameDecoder(max);
  const f = encodeFrame(FrameType.DATA, 0, 1, new Uint8Array(max));
  for (let i = 0; i < 50; i++) {
    for (let o = 0; o < f.length; o += 1000) {
      d.push(f.subarray(o, o + 1000), () => {});
      assert.ok(d.buffered <= HEADER_SIZE + max + 1000);
    }
  }
  assert.equal(d.buffered, 0);
});

Deno.test("FrameDecoder payloads are zero-copy inside one chunk and intact across chunks", () => {
  const f = encodeFrame(FrameType.DATA, 0, 1, new Uint8Array([5, 6, 7, 8]));
  const d = new FrameDecoder(1024);
  let p: Uint8Array | undefined;
  d.push(f, (fr) => (p = fr.payload));
  assert.equal(p!.buffer, f.buffer);
  const d2 = new FrameDecoder(1024);
  d2.push(f.subarray(0, 11), () => {});
  d2.push(f.subarray(11), (fr) => (p = fr.payload));
  assert.deepEqual([...p!], [5, 6, 7, 8]);
});

Deno.test("decodeHello() rejects short payloads, a bad magic, tiny windows and bad UTF-8", () => {
  const good = helloPayload(encodeHello(hello)).slice();
  assert.throws(() => decodeHello(good.subarray(0, 19)), /HELLO of 19 bytes is too short/);
  assert.throws(() => decodeHello(new Uint8Array(0)), FrameError);
  const magic = good.slice();
  magic[0] = magic[0]! ^ 1;
  assert.throws(() => decodeHello(magic), /bad magic/);
  assert.equal(new DataView(good.buffer).getUint32(0), MAGIC);
  for (const off of [8, 12, 16]) {
    const p = good.slice();
    new DataView(p.buffer).setUint32(off, 1023);
    assert.throws(() => decodeHello(p), /below 1024/, `offset ${off}`);
  }
  const utf = cat(good.subarray(0, 20), new Uint8Array([0xc3, 0x28]));
  assert.throws(() => decodeHello(utf), /HELLO software is not valid UTF-8/);
  // Another version decodes; the session decides what to do with it.
  const v2 = good.slice();
  new DataView(v2.buffer).setUint16(4, 2);
  assert.equal(decodeHello(v2).version, 2);
});

Deno.test("encodeHello() truncates the software string", () => {
  const f = encodeHello({ ...hello, software: "x".repeat(1000) });
  assert.equal(decodeHello(helloPayload(f)).software.length, 200);
});

Deno.test("decodeOpen() bounds the target and requires UTF-8", () => {
  assert.throws(() => decodeOpen(new Uint8Array(0)), /0 bytes is out of range 1-1024/);
  assert.throws(() => decodeOpen(new Uint8Array(1025).fill(97)), /1025 bytes/);
  assert.equal(decodeOpen(new Uint8Array(1024).fill(97)).length, 1024);
  assert.throws(() => decodeOpen(new Uint8Array([0xff, 0xfe])), /OPEN target is not valid UTF-8/);
});

Deno.test("decodeU32() requires exactly 4 bytes", () => {
  for (const n of [0, 3, 5, 8]) {
    assert.throws(() => decodeU32(new Uint8Array(n), "WINDOW"), /WINDOW payload must be 4 bytes/);
  }
  assert.equal(decodeU32(new Uint8Array([0, 0, 1, 0]), "WINDOW"), 256);
});

Deno.test("decodeReset() bounds the payload, keeps unknown codes, requires UTF-8", () => {
  assert.throws(() => decodeReset(new Uint8Array(0)), /RESET payload of 0 bytes/);
  assert.throws(() => decodeReset(new Uint8Array(1026)), /RESET payload of 1026 bytes/);
  assert.deepEqual(decodeReset(new Uint8Array(1025).fill(97)).reason.length, 1024);
  assert.equal(decodeReset(new Uint8Array([200])).code, 200);
  assert.throws(() => decodeReset(new Uint8Array([1, 0x80])), /RESET reason is not valid UTF-8/);
  const long = encodeReset(1, ResetCode.INTERNAL, "é".repeat(2000));
  assert.ok(decodeReset(long.subarray(HEADER_SIZE)).reason.length <= 256);
});

Deno.test("decodeGoAway() bounds the payload and requires UTF-8", () => {
  assert.throws(() => decodeGoAway(new Uint8Array(4)), /GOAWAY payload of 4 bytes/);
  assert.throws(() => decodeGoAway(new Uint8Array(5 + 1025)), /out of range/);
  assert.deepEqual(decodeGoAway(new Uint8Array([0, 0, 0, 9, 14])), {
    lastStream: 9,
    code: 14,
    reason: "",
  });
  assert.throws(
    () => decodeGoAway(new Uint8Array([0, 0, 0, 0, 1, 0xed, 0xa0, 0x80])),
    /GOAWAY reason is not valid UTF-8/,
  );
});

Deno.test("resetCodeName() names known codes and marks unknown ones", () => {
  assert.equal(resetCodeName(ResetCode.BREAKER_OPEN), "breaker-open");
  assert.equal(resetCodeName(ResetCode.FORBIDDEN), "forbidden");
  assert.equal(resetCodeName(99), "unknown-99");
});

Deno.test("FrameDecoder({ streamData }) delivers split DATA payloads as views, FIN on the last piece", () => {
  const payload = new Uint8Array(5000).map((_, i) => i % 253);
  const bytes = new Uint8Array([
    ...encodeFrame(FrameType.DATA, FLAG_FIN, 7, payload),
    ...encodeFrame(FrameType.PING, 0, 0, new Uint8Array(8)),
  ]);
  for (const cut of [1, 5, 9, 10, 100, 4999, 5008, 5009, 5010]) {
    const d = new FrameDecoder(65536, { streamData: true });
    const got: Frame[] = [];
    d.push(bytes.subarray(0, cut), (f) => got.push({ ...f, payload: f.payload.slice() }));
    d.push(bytes.subarray(cut), (f) => got.push({ ...f, payload: f.payload.slice() }));
    const data = got.filter((f) => f.type === FrameType.DATA);
    assert.ok(data.every((f) => f.stream === 7));
    assert.deepEqual(
      data.map((f) => f.flags & FLAG_FIN),
      data.map((_, i) => (i === data.length - 1 ? FLAG_FIN : 0)),
      `cut ${cut}`,
    );
    const joined = new Uint8Array(data.reduce((n, f) => n + f.payload.length, 0));
    let off = 0;
    for (const f of data) {
      joined.set(f.payload, off);
      off += f.payload.length;
    }
    assert.deepEqual(joined, payload, `cut ${cut}`);
    assert.equal(got.at(-1)!.type, FrameType.PING);
    assert.equal(d.buffered, 0);
  }
});
