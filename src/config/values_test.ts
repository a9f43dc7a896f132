import assert from "node:assert/strict";
import {
  formatDuration,
  formatHostPort,
  formatSize,
  parseDuration,
  parseHostPort,
  parseSize,
} from "./values.ts";

Deno.test("parseDuration() reads single units", () => {
  assert.equal(parseDuration("250ms"), 250);
  assert.equal(parseDuration("30s"), 30_000);
  assert.equal(parseDuration("5m"), 300_000);
  assert.equal(parseDuration("1h"), 3_600_000);
  assert.equal(parseDuration("0s"), 0);
  assert.equal(parseDuration(" 30s "), 30_000);
});

Deno.test("parseDuration() adds compound and fractional parts", () => {
  assert.equal(parseDuration("1m30s"), 90_000);
  assert.equal(parseDuration("1h1m1s1ms"), 3_661_001);
  assert.equal(parseDuration("1.5s"), 1500);
  assert.equal(parseDuration("0.5ms"), 1); // rounded to whole milliseconds
});

Deno.test("parseDuration() rejects malformed text with the value in the message", () => {
  for (const bad of ["", "30", "s", "30x", "-5s", "5 m", "1m 30s", "30sec", "1d", "ms30", "1.s"]) {
    assert.throws(
      () => parseDuration(bad),
      (e: unknown) =>
        e instanceof TypeError && e.message.includes(JSON.stringify(bad)) &&
        e.message.includes('"30s"'),
      `should reject ${JSON.stringify(bad)}`,
    );
  }
});

Deno.test("formatDuration() gives the shortest exact text and round-trips", () => {
  assert.equal(formatDuration(250), "250ms");
  assert.equal(formatDuration(1500), "1500ms");
  assert.equal(formatDuration(30_000), "30s");
  assert.equal(formatDuration(90_000), "90s");
  assert.equal(formatDuration(300_000), "5m");
  assert.equal(formatDuration(7_200_000), "2h");
  assert.equal(formatDuration(0), "0s");
  for (const ms of [0, 1, 999, 1000, 90_000, 3_600_000, 3_661_001]) {
    assert.equal(parseDuration(formatDuration(ms)), ms);
  }
});

Deno.test("parseSize() reads bytes and decimal and binary units, case-insensitively", () => {
  assert.equal(parseSize("65536"), 65536);
  assert.equal(parseSize("0"), 0);
  assert.equal(parseSize("10b"), 10);
  assert.equal(parseSize("16kb"), 16_000);
  assert.equal(parseSize("64KiB"), 65536);
  assert.equal(parseSize("64kib"), 65536);
  assert.equal(parseSize("1MiB"), 1_048_576);
  assert.equal(parseSize("2MB"), 2_000_000);
  assert.equal(parseSize("1GiB"), 1024 ** 3);
  assert.equal(parseSize(" 4 MiB "), 4 * 1024 * 1024);
});

Deno.test("parseSize() rejects malformed text with the value in the message", () => {
  for (const bad of ["", "KiB", "1.5MiB", "-1", "12 34", "10TB", "1MiBs", "0x10"]) {
    assert.throws(
      () => parseSize(bad),
      (e: unknown) => e instanceof TypeError && e.message.includes(JSON.stringify(bad)),
      `should reject ${JSON.stringify(bad)}`,
    );
  }
});

Deno.test("formatSize() gives the largest exact binary unit and round-trips", () => {
  assert.equal(formatSize(65536), "64KiB");
  assert.equal(formatSize(4 * 1024 * 1024), "4MiB");
  assert.equal(formatSize(1024 ** 3), "1GiB");
  assert.equal(formatSize(1500), "1500");
  assert.equal(formatSize(0), "0");
  for (const n of [0, 1, 1024, 1536, 65536, 32 * 1024 * 1024]) {
    assert.equal(parseSize(formatSize(n)), n);
  }
});

Deno.test("parseHostPort() reads names, IPv4 and bracketed IPv6", () => {
  assert.deepEqual(parseHostPort("127.0.0.1:8080"), { host: "127.0.0.1", port: 8080 });
  assert.deepEqual(parseHostPort("example.com:443"), { host: "example.com", port: 443 });
  assert.deepEqual(parseHostPort("[::1]:8080"), { host: "::1", port: 8080 });
  assert.deepEqual(parseHostPort("[fe80::1:2]:1"), { host: "fe80::1:2", port: 1 });
  assert.deepEqual(parseHostPort("0.0.0.0:65535"), { host: "0.0.0.0", port: 65535 });
});

Deno.test("parseHostPort() accepts port 0 only when allowZero", () => {
  assert.deepEqual(parseHostPort("127.0.0.1:0"), { host: "127.0.0.1", port: 0 });
  assert.throws(
    () => parseHostPort("127.0.0.1:0", false),
    /port must be 1-65535.*"127\.0\.0\.1:0"/,
  );
});

Deno.test("parseHostPort() rejects out-of-range ports and malformed addresses", () => {
  assert.throws(
    () => parseHostPort("127.0.0.1:65536"),
    /port must be 0-65535, got "127\.0\.0\.1:65536"/,
  );
  assert.throws(() => parseHostPort("[::1]:99999"), /port must be/);
  for (
    const bad of [
      "",
      "localhost",
      ":8080",
      "host:",
      "host:http",
      "::1:8080",
      "[::1]",
      "a b:1",
      "host:-1",
      "http://x:1",
    ]
  ) {
    assert.throws(
      () => parseHostPort(bad),
      (e: unknown) => e instanceof TypeError && e.message.includes(JSON.stringify(bad)),
      `should reject ${JSON.stringify(bad)}`,
    );
  }
});

Deno.test("formatHostPort() brackets IPv6 and round-trips", () => {
  assert.equal(formatHostPort("127.0.0.1", 80), "127.0.0.1:80");
  assert.equal(formatHostPort("::1", 8080), "[::1]:8080");
  for (const a of ["127.0.0.1:80", "[::1]:8080", "example.com:443"]) {
    const { host, port } = parseHostPort(a);
    assert.equal(formatHostPort(host, port), a);
  }
});
