import assert from "node:assert/strict";
import { concat, connSource, Reader, TooLargeError } from "./reader.ts";

const enc = (s: string) => new Uint8Array([...s].map((c) => c.charCodeAt(0)));
const dec = (b: Uint8Array | null) => (b === null ? null : new TextDecoder("latin1").decode(b));

/** A reader over fixed chunks; counts source reads. */
function readerOf(chunks: Array<string | Uint8Array>) {
  const queue = chunks.map((c) => (typeof c === "string" ? enc(c) : c));
  const state = { reads: 0 };
  const reader = new Reader(() => {
    state.reads++;
    return Promise.resolve(queue.shift() ?? null);
  });
  return { reader, state };
}

async function rest(r: Reader): Promise<string> {
  let s = "";
  for (let c = await r.chunk(); c !== null; c = await r.chunk()) s += dec(c);
  return s;
}

Deno.test("Reader.readHead() returns the head through CRLF CRLF and pushes the rest back", async () => {
  const { reader } = readerOf(["GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY"]);
  assert.equal(dec(await reader.readHead(1024)), "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  assert.equal(reader.buffered, 4);
  assert.equal(await rest(reader), "BODY");
  assert.equal(reader.ended, true);
});

Deno.test("Reader.readHead() finds the end split at every offset, also for LF LF and LF CRLF", async () => {
  for (const head of ["GET / HTTP/1.1\r\nA: b\r\n\r\n", "GET / HTTP/1.1\nA: b\n\n", "X\n\r\n"]) {
    const whole = head + "tail";
    for (let i = 0; i <= whole.length; i++) {
      for (const j of [i, Math.min(whole.length, i + 1), Math.min(whole.length, i + 2)]) {
        const parts = [whole.slice(0, i), whole.slice(i, j), whole.slice(j)].filter((p) => p);
        const { reader } = readerOf(parts);
        assert.equal(dec(await reader.readHead(1024)), head, `${JSON.stringify(head)} ${i},${j}`);
        assert.equal(await rest(reader), "tail");
      }
    }
    // One byte per chunk.
    const { reader } = readerOf([...whole]);
    assert.equal(dec(await reader.readHead(1024)), head);
  }
});

Deno.test("Reader.readHead() tolerates empty chunks from its source", async () => {
  // A ChunkSource may yield an empty chunk; it must not erase the bytes seen so far.
  const { reader } = readerOf(["GET / HTTP/1.1\r\n", "", "\r\n"]);
  assert.equal(dec(await reader.readHead(1024)), "GET / HTTP/1.1\r\n\r\n");
});

Deno.test("Reader.readHead() does not end at a lone CRLF or CR CR", async () => {
  const { reader } = readerOf(["A\r\nB\r\r\nC\r\n", "\r\n"]);
  assert.equal(dec(await reader.readHead(1024)), "A\r\nB\r\r\nC\r\n\r\n");
});

Deno.test("Reader.readHead() returns null at end of input before any byte", async () => {
  const { reader } = readerOf([]);
  assert.equal(await reader.readHead(10), null);
  assert.equal(reader.ended, true);
});

Deno.test("Reader.readHead() throws on input ending mid-head", async () => {
  const { reader } = readerOf(["GET / HTTP/1.1\r\nHost"]);
  await assert.rejects(() => reader.readHead(1024), /closed in the middle of a request head/);
});

Deno.test("Reader.readHead() enforces the limit exactly, with or without an end in sight", async () => {
  const head = "GET / HTTP/1.1\r\n\r\n"; // 18 bytes
  assert.equal(dec(await readerOf([head]).reader.readHead(18)), head);
  await assert.rejects(() => readerOf([head]).reader.readHead(17), TooLargeError);
  // No terminator: gives up once past the limit without reading everything.
  const { reader, state } = readerOf(Array(1000).fill("x".repeat(100)));
  await assert.rejects(() => reader.readHead(1000), /head exceeds 1000 bytes/);
  assert.ok(state.reads <= 11, `read ${state.reads} chunks`);
  // Terminator arriving in a later chunk past the limit.
  await assert.rejects(
    () => readerOf(["a".repeat(15), "\r\n\r\n"]).reader.readHead(18),
    TooLargeError,
  );
});

Deno.test("Reader.readLine() returns a line with its LF and pushes back the rest", async () => {
  const { reader } = readerOf(["5;ext=1\r", "\nhello\r\n"]);
  assert.equal(dec(await reader.readLine(100)), "5;ext=1\r\n");
  assert.equal(dec(await reader.readLine(100)), "hello\r\n");
  assert.equal(await reader.readLine(100), null);
});

Deno.test("Reader.readLine() enforces its limit and reports truncation", async () => {
  await assert.rejects(() => readerOf(["abcdef\n"]).reader.readLine(6), /line exceeds 6 bytes/);
  assert.equal(dec(await readerOf(["abcde\n"]).reader.readLine(6)), "abcde\n");
  await assert.rejects(() => readerOf(["abc", "def", "ghi"]).reader.readLine(5), TooLargeError);
  await assert.rejects(() => readerOf(["abc"]).reader.readLine(5), /ended in the middle of a line/);
});

Deno.test("Reader.chunk() honours max and unshift() puts bytes back first", async () => {
  const { reader, state } = readerOf(["abcdef", "gh"]);
  assert.equal(dec(await reader.chunk(2)), "ab");
  assert.equal(reader.buffered, 4);
  reader.unshift(enc("XY"));
  reader.unshift(new Uint8Array(0)); // ignored
  assert.equal(dec(await reader.chunk()), "XY");
  assert.equal(dec(await reader.chunk(100)), "cdef");
  assert.equal(state.reads, 1);
  assert.equal(await rest(reader), "gh");
  assert.equal(await reader.chunk(), null);
  assert.equal(await reader.chunk(), null);
  assert.equal(state.reads, 3); // no read after EOF
});

Deno.test("connSource() grows its buffer on full reads and shrinks on small ones", async () => {
  const sizes: number[] = [];
  const fills = [4096, 16384, 65536, 65536, 10, 10, 10];
  const src = connSource({
    read(p: Uint8Array) {
      sizes.push(p.length);
      const n = fills.shift();
      return Promise.resolve(n === undefined ? null : Math.min(n, p.length));
    },
  });
  for (let c = await src(); c !== null; c = await src()) { /* drain */ }
  assert.deepEqual(sizes, [4096, 16384, 65536, 65536, 65536, 16384, 4096, 4096]);
});

Deno.test("concat() joins parts and returns a single part as is", () => {
  const a = enc("ab");
  assert.equal(concat([a]), a);
  assert.equal(dec(concat([a, enc("c"), enc("")])), "abc");
});

Deno.test("connSource() chunks are exact-size copies that later reads do not touch", async () => {
  let round = 0;
  const src = connSource({
    read(p: Uint8Array) {
      round++;
      p.fill(round, 0, 3);
      return Promise.resolve(3);
    },
  });
  const first = (await src())!;
  const second = (await src())!;
  assert.deepEqual([...first], [1, 1, 1]);
  assert.deepEqual([...second], [2, 2, 2]);
  assert.equal(first.buffer.byteLength, 3, "a chunk keeps no larger buffer alive");
});
