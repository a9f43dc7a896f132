import assert from "node:assert/strict";
import { Reader } from "../http/reader.ts";
import { ResetCode } from "../tunnel/frames.ts";
import {
  formatIpv6,
  socksConnectTarget,
  socksGreeting,
  SocksProtocolError,
  SocksReply,
  socksReplyForReset,
} from "./socks5.ts";

function reader(...chunks: number[][]): Reader {
  const queue = chunks.map((c) => new Uint8Array(c));
  return new Reader(() => Promise.resolve(queue.shift() ?? null));
}

function request(cmd: number, atyp: number, addr: number[], port: number): number[] {
  return [5, cmd, 0, atyp, ...addr, port >> 8, port & 0xff];
}

async function rejects(p: Promise<unknown>, reply: number[] | undefined, msg: RegExp) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof SocksProtocolError, String(e));
    assert.match(e.message, msg);
    assert.deepEqual(e.reply ? [...e.reply] : undefined, reply);
    return true;
  });
}

Deno.test("socksGreeting() picks no-auth, split over several reads", async () => {
  const sent: number[][] = [];
  await socksGreeting(reader([5], [2, 2], [0]), (b) => (sent.push([...b]), Promise.resolve()));
  assert.deepEqual(sent, [[5, 0]]);
});

Deno.test("socksGreeting() requires username/password when configured (RFC 1929)", async () => {
  const check = (u: string, p: string) => u === "alice" && p === "s3cret";
  const enc = (s: string) => [s.length, ...new TextEncoder().encode(s)];
  const sent: number[][] = [];
  const w = (b: Uint8Array) => (sent.push([...b]), Promise.resolve());
  const ok = await socksGreeting(
    reader([5, 2, 0, 2, 1, ...enc("alice"), ...enc("s3cret")]),
    w,
    check,
  );
  assert.equal(ok.user, "alice");
  assert.deepEqual(sent, [[5, 2], [1, 0]]);
  await rejects(
    socksGreeting(reader([5, 1, 2, 1, ...enc("alice"), ...enc("nope")]), w, check),
    [1, 1],
    /authentication failed for user "alice"/,
  );
  await rejects(socksGreeting(reader([5, 1, 0]), w, check), [5, 0xff], /requires/);
});

Deno.test("socksGreeting() rejects other versions and clients without an acceptable method", async () => {
  const w = () => Promise.resolve();
  await rejects(socksGreeting(reader([4, 1, 0, 80]), w), [0, 0x5b, 0, 0, 0, 0, 0, 0], /SOCKS4/);
  await rejects(
    socksGreeting(reader([0x47, 0x45, 0x54]), w),
    undefined,
    /not SOCKS5: first byte 0x47/,
  );
  await rejects(socksGreeting(reader([5, 1, 2]), w), [5, 0xff], /no method/);
  await rejects(socksGreeting(reader([5, 0]), w), [5, 0xff], /no method/);
  await assert.rejects(socksGreeting(reader([5, 3, 0]), w), /closed after 1 of 3 bytes/);
});

Deno.test("socksConnectTarget() reads IPv4, IPv6 and domain targets", async () => {
  assert.equal(await socksConnectTarget(reader(request(1, 1, [10, 0, 0, 7], 443))), "10.0.0.7:443");
  const v6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
  assert.equal(await socksConnectTarget(reader(request(1, 4, v6, 80))), "[2001:db8::1]:80");
  const name = [...new TextEncoder().encode("example.com")];
  assert.equal(
    await socksConnectTarget(reader(request(1, 3, [name.length, ...name], 8080))),
    "example.com:8080",
  );
  const lit = [...new TextEncoder().encode("::1")];
  assert.equal(await socksConnectTarget(reader(request(1, 3, [3, ...lit], 22))), "[::1]:22");
});

Deno.test("socksConnectTarget() answers BIND, UDP ASSOCIATE, bad types and names", async () => {
  const reply = (c: number) => [5, c, 0, 1, 0, 0, 0, 0, 0, 0];
  await rejects(socksConnectTarget(reader(request(2, 1, [1, 2, 3, 4], 80))), reply(7), /BIND/);
  await rejects(
    socksConnectTarget(reader(request(3, 1, [0, 0, 0, 0], 0))),
    reply(7),
    /UDP ASSOCIATE/,
  );
  await rejects(socksConnectTarget(reader(request(9, 1, [1, 2, 3, 4], 80))), reply(7), /0x09/);
  await rejects(socksConnectTarget(reader([5, 1, 0, 5, 1, 2])), reply(8), /address type 0x05/);
  const long = new Array(255).fill(0x61);
  await rejects(
    socksConnectTarget(reader(request(1, 3, [255, ...long], 80))),
    reply(4),
    /255 bytes/,
  );
  const evil = [...new TextEncoder().encode("a b\r\n")];
  await rejects(
    socksConnectTarget(reader(request(1, 3, [evil.length, ...evil], 80))),
    reply(4),
    /invalid domain/,
  );
  await rejects(socksConnectTarget(reader(request(1, 1, [1, 2, 3, 4], 0))), reply(1), /port 0/);
  await rejects(socksConnectTarget(reader([4, 1, 0, 1])), reply(1), /version 0x04/);
});

Deno.test("socksReplyForReset() maps tunnel resets to SOCKS reply codes", () => {
  assert.equal(socksReplyForReset(ResetCode.REFUSED), SocksReply.CONNECTION_REFUSED);
  assert.equal(socksReplyForReset(ResetCode.FORBIDDEN), SocksReply.NOT_ALLOWED);
  assert.equal(socksReplyForReset(ResetCode.UNREACHABLE), SocksReply.HOST_UNREACHABLE);
  assert.equal(socksReplyForReset(ResetCode.DNS), SocksReply.HOST_UNREACHABLE);
  assert.equal(socksReplyForReset(ResetCode.TIMEOUT), SocksReply.HOST_UNREACHABLE);
  assert.equal(socksReplyForReset(ResetCode.LIMIT), SocksReply.GENERAL_FAILURE);
});

Deno.test("formatIpv6() compresses the longest zero run (RFC 5952)", () => {
  const b = (...g: number[]) => new Uint8Array(g.flatMap((x) => [x >> 8, x & 0xff]));
  assert.equal(formatIpv6(b(0, 0, 0, 0, 0, 0, 0, 1)), "::1");
  assert.equal(formatIpv6(b(0, 0, 0, 0, 0, 0, 0, 0)), "::");
  assert.equal(formatIpv6(b(0x2001, 0xdb8, 0, 1, 0, 0, 0, 1)), "2001:db8:0:1::1");
  assert.equal(formatIpv6(b(1, 2, 3, 4, 5, 6, 7, 8)), "1:2:3:4:5:6:7:8");
  assert.equal(formatIpv6(b(0xfe80, 0, 0, 0, 1, 0, 0, 0)), "fe80::1:0:0:0");
});
