import assert from "node:assert/strict";
import { isAgentName, isDnsName, isIpAddress } from "./names.ts";

Deno.test("isIpAddress() accepts IPv4 and IPv6 and rejects near misses", () => {
  for (
    const ok of [
      "127.0.0.1",
      "0.0.0.0",
      "255.255.255.255",
      "10.1.2.3",
      "::1",
      "fe80::1",
      "2001:db8::8a2e:370:7334",
      "::ffff:192.0.2.1",
    ]
  ) {
    assert.equal(isIpAddress(ok), true, ok);
  }
  for (
    const bad of [
      "1.2.3",
      "256.1.1.1",
      "01.2.3.4",
      "1.2.3.4.5",
      "localhost",
      "",
      "[::1]",
      "fe80::1%eth0",
      ":::",
      "1:2:3:4:5:6:7:8:9",
      "1.2.3.4 ",
    ]
  ) {
    assert.equal(isIpAddress(bad), false, bad);
  }
});

Deno.test("isDnsName() accepts host names and a leading wildcard", () => {
  for (
    const ok of ["fluidity-server", "localhost", "a.example.com", "*.example.com", "x1", "A-B.c"]
  ) {
    assert.equal(isDnsName(ok), true, ok);
  }
  for (
    const bad of [
      "",
      "-a",
      "a-",
      "a..b",
      "a_b",
      "bad name",
      "*",
      "a.*.com",
      "127.0.0.1",
      "x".repeat(64),
      "a/b",
    ]
  ) {
    assert.equal(isDnsName(bad), false, bad);
  }
});

Deno.test("isAgentName() allows only names that are safe as file names", () => {
  for (const ok of ["agent", "laptop-1", "alice.work", "bob_2", "A"]) {
    assert.equal(isAgentName(ok), true, ok);
  }
  for (const bad of ["", ".hidden", "-x", "a/b", "..", "a..b", "a b", "x".repeat(65), "ca\\x"]) {
    assert.equal(isAgentName(bad), false, bad);
  }
});
