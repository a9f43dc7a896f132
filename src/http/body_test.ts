import assert from "node:assert/strict";
import { copyBody, TruncatedBodyError } from "./body.ts";
import { type BodyFraming, HttpError } from "./head.ts";
import { Reader } from "./reader.ts";

const enc = (s: string) => new Uint8Array([...s].map((c) => c.charCodeAt(0)));
const dec = (b: Uint8Array) => new TextDecoder("latin1").decode(b);

function readerOf(chunks: string[]): Reader {
  const q = chunks.map(enc);
  return new Reader(() => Promise.resolve(q.shift() ?? null));
}

/** Copies and returns [written, wire size, what is left in the reader]. */
async function copy(
  chunks: string[],
  framing: BodyFraming,
  maxTrailer?: number,
): Promise<[string, number, string]> {
  const r = readerOf(chunks);
  let out = "";
  const n = await copyBody(r, framing, (c) => {
    out += dec(c);
    return Promise.resolve();
  }, maxTrailer);
  let rest = "";
  for (let c = await r.chunk(); c !== null; c = await r.chunk()) rest += dec(c);
  return [out, n, rest];
}

/** Every way to cut `s` into two chunks. */
function splits(s: string): string[][] {
  return Array.from({ length: s.length + 1 }, (_, i) => [s.slice(0, i), s.slice(i)]);
}

const CHUNKED: BodyFraming = { kind: "chunked" };

Deno.test("copyBody() copies nothing for framing none", async () => {
  assert.deepEqual(await copy(["GET next"], { kind: "none" }), ["", 0, "GET next"]);
});

Deno.test("copyBody() copies exactly Content-Length bytes and leaves the rest", async () => {
  for (const parts of splits("hello worldNEXT")) {
    assert.deepEqual(await copy(parts, { kind: "length", length: 11 }), [
      "hello world",
      11,
      "NEXT",
    ]);
  }
});

Deno.test("copyBody() reports a truncated Content-Length body", async () => {
  await assert.rejects(
    () => copy(["hel", "lo"], { kind: "length", length: 10 }),
    (e: unknown) => e instanceof TruncatedBodyError && /after 5 of 10 bytes/.test(e.message),
  );
});

Deno.test("copyBody() copies a close-delimited body to the end", async () => {
  assert.deepEqual(await copy(["a", "bc", "def"], { kind: "close" }), ["abcdef", 6, ""]);
});

Deno.test("copyBody() forwards a chunked body byte for byte, split anywhere", async () => {
  const body = "5\r\nhello\r\n6;name=val;x\r\n world\r\nA \t;e\r\n0123456789\r\n0\r\n\r\n";
  for (const parts of splits(body + "NEXT")) {
    const [out, n, rest] = await copy(parts, CHUNKED);
    assert.equal(out, body);
    assert.equal(n, body.length);
    assert.equal(rest, "NEXT");
  }
});

Deno.test("copyBody() accepts LF-only chunk lines and hex in either case", async () => {
  const body = "a\nabcdefghij\nF\n0123456789abcde\n0\n\n";
  assert.deepEqual(await copy([body], CHUNKED), [body, body.length, ""]);
});

Deno.test("copyBody() forwards trailers and stops after the blank line", async () => {
  const body = "3\r\nabc\r\n0\r\nX-Trailer: 1\r\nY: 2\r\n\r\n";
  for (const parts of splits(body + "GET")) {
    assert.deepEqual(await copy(parts, CHUNKED), [body, body.length, "GET"]);
  }
});

Deno.test("copyBody() limits trailers", async () => {
  const big = "0\r\n" + "X: " + "y".repeat(200) + "\r\n".repeat(1) + "Z: 1\r\n\r\n";
  await assert.rejects(
    () => copy([big], CHUNKED, 100),
    (e: unknown) => e instanceof Error && /exceeds 100 bytes|too large/.test(e.message),
  );
  const many = "0\r\n" + "X: 1234567\r\n".repeat(20) + "\r\n";
  await assert.rejects(
    () => copy([many], CHUNKED, 100),
    (e: unknown) => e instanceof HttpError && e.status === 431,
  );
});

Deno.test("copyBody() rejects bad chunk sizes with 400", async () => {
  for (
    const line of [
      "g\r\n", // not hex
      "-1\r\n", // negative
      "+1\r\n",
      "0x5\r\n",
      " 5\r\n", // leading space
      "\r\n", // empty
      "1234567890abcdef\r\n", // 16 hex digits
      "5 x\r\n", // junk after the size
      "5\r\r\n", // bare CR
    ]
  ) {
    await assert.rejects(
      () => copy([line + "hello\r\n0\r\n\r\n"], CHUNKED),
      (e: unknown) => e instanceof HttpError && e.status === 400 && /chunk size/.test(e.message),
      JSON.stringify(line),
    );
  }
});

Deno.test("copyBody() rejects a chunk size line longer than 4 KiB", async () => {
  await assert.rejects(
    () => copy(["5;" + "e".repeat(5000) + "\r\nhello\r\n0\r\n\r\n"], CHUNKED),
    /line exceeds 4096 bytes/,
  );
});

Deno.test("copyBody() rejects chunk data not followed by CRLF", async () => {
  await assert.rejects(() => copy(["5\r\nhelloX\r\n0\r\n\r\n"], CHUNKED), /line exceeds 2/);
  await assert.rejects(() => copy(["5\r\nhelloXY0\r\n\r\n"], CHUNKED), /line exceeds 2/);
  for (const bad of ["5\r\nhelloX\n0\r\n\r\n", "1\r\nh\t\n0\r\n\r\n"]) {
    await assert.rejects(
      () => copy([bad], CHUNKED),
      (e: unknown) =>
        e instanceof HttpError && e.status === 400 && /not followed by CRLF/.test(e.message),
      JSON.stringify(bad),
    );
  }
});

Deno.test("copyBody() reports every truncation of a chunked body", async () => {
  const body = "5\r\nhello\r\n0\r\nT: 1\r\n\r\n";
  for (let cut = 0; cut < body.length; cut++) {
    await assert.rejects(
      () => copy([body.slice(0, cut)], CHUNKED),
      (e: unknown) =>
        e instanceof TruncatedBodyError ||
        (e instanceof Error && /ended in the middle of a line/.test(e.message)),
      `cut at ${cut}`,
    );
  }
});

Deno.test("copyBody() passes writer errors through", async () => {
  const r = readerOf(["abc"]);
  await assert.rejects(
    () => copyBody(r, { kind: "length", length: 3 }, () => Promise.reject(new Error("peer gone"))),
    /peer gone/,
  );
});
