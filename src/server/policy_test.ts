import assert from "node:assert/strict";
import {
  type AddressClass,
  checkAddress,
  checkTarget,
  classifyAddress,
  ipv6Groups,
  type PolicyOptions,
} from "./policy.ts";

const strict: PolicyOptions = {
  allowPrivateTargets: false,
  allowHosts: [],
  denyHosts: [],
  allowPorts: [],
};

Deno.test("classifyAddress() classifies IPv4 special ranges", () => {
  const cases: Array<[string, AddressClass]> = [
    ["127.0.0.1", "loopback"],
    ["127.255.255.254", "loopback"],
    ["10.0.0.1", "private"],
    ["10.255.255.255", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["172.15.255.255", "public"],
    ["172.32.0.0", "public"],
    ["192.168.0.1", "private"],
    ["192.169.0.1", "public"],
    ["169.254.169.254", "link-local"],
    ["169.254.0.1", "link-local"],
    ["100.64.0.1", "private"],
    ["100.127.255.255", "private"],
    ["100.63.255.255", "public"],
    ["100.128.0.0", "public"],
    ["0.0.0.0", "unspecified"],
    ["0.1.2.3", "unspecified"],
    ["224.0.0.1", "multicast"],
    ["239.255.255.255", "multicast"],
    ["240.0.0.1", "reserved"],
    ["255.255.255.255", "reserved"],
    ["192.0.0.8", "reserved"],
    ["198.18.0.1", "reserved"],
    ["8.8.8.8", "public"],
    ["1.1.1.1", "public"],
    ["93.184.216.34", "public"],
  ];
  for (const [ip, c] of cases) assert.equal(classifyAddress(ip), c, ip);
});

Deno.test("classifyAddress() classifies IPv6 special ranges and embedded IPv4", () => {
  const cases: Array<[string, AddressClass]> = [
    ["::1", "loopback"],
    ["0:0:0:0:0:0:0:1", "loopback"],
    ["::", "unspecified"],
    ["fe80::1", "link-local"],
    ["fe80::1%eth0", "link-local"],
    ["febf::1", "link-local"],
    ["fc00::1", "unique-local"],
    ["fd12:3456::1", "unique-local"],
    ["ff02::1", "multicast"],
    ["ff00::", "multicast"],
    ["fec0::1", "private"],
    ["::ffff:127.0.0.1", "loopback"],
    ["::ffff:7f00:1", "loopback"],
    ["::ffff:10.1.2.3", "private"],
    ["::ffff:169.254.169.254", "link-local"],
    ["::ffff:8.8.8.8", "public"],
    ["::127.0.0.1", "loopback"],
    ["64:ff9b::a00:1", "private"],
    ["64:ff9b::7f00:1", "loopback"],
    ["64:ff9b::808:808", "public"],
    ["2001:4860:4860::8888", "public"],
    ["2606:4700::1111", "public"],
    ["fe7f::1", "public"],
  ];
  for (const [ip, c] of cases) assert.equal(classifyAddress(ip), c, ip);
});

Deno.test("classifyAddress() treats non-addresses as reserved", () => {
  for (const junk of ["", "localhost", "1.2.3", "1.2.3.4.5", "::g", "[::1]"]) {
    assert.equal(classifyAddress(junk), "reserved", junk);
  }
});

Deno.test("ipv6Groups() expands compressed and dotted forms", () => {
  assert.deepEqual(ipv6Groups("::1"), [0, 0, 0, 0, 0, 0, 0, 1]);
  assert.deepEqual(ipv6Groups("1::"), [1, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(ipv6Groups("::ffff:1.2.3.4"), [0, 0, 0, 0, 0, 0xffff, 0x102, 0x304]);
  assert.deepEqual(ipv6Groups("1:2:3:4:5:6:7:8"), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.equal(ipv6Groups("1.2.3.4"), undefined);
});

Deno.test("checkAddress() refuses every non-public address by default with a clear reason", () => {
  for (
    const ip of [
      "127.0.0.1",
      "10.0.0.5",
      "169.254.169.254",
      "0.0.0.0",
      "::1",
      "::",
      "fe80::1",
      "fd00::1",
      "ff02::1",
      "::ffff:127.0.0.1",
      "::ffff:10.1.2.3",
      "64:ff9b::a00:1",
    ]
  ) {
    const why = checkAddress(ip, strict);
    assert.ok(why, ip);
    assert.match(why, new RegExp(`^${ip.replaceAll(".", "\\.")} is a`));
    assert.match(why, /allow_private_targets/);
  }
  assert.match(checkAddress("169.254.169.254", strict)!, /link-local address/);
  assert.equal(checkAddress("8.8.8.8", strict), null);
  assert.equal(checkAddress("2001:4860:4860::8888", strict), null);
});

Deno.test("checkAddress() allows everything with allowPrivateTargets", () => {
  const open = { ...strict, allowPrivateTargets: true };
  for (const ip of ["127.0.0.1", "::1", "169.254.169.254", "10.1.1.1"]) {
    assert.equal(checkAddress(ip, open), null);
  }
});

Deno.test("checkTarget() refuses ports out of range and outside allow_ports", () => {
  assert.match(checkTarget("a.com", 0, strict)!, /port 0 is out of range/);
  assert.match(checkTarget("a.com", 65536, strict)!, /out of range/);
  assert.equal(checkTarget("a.com", 65535, strict), null);
  const ports = { ...strict, allowPorts: ["443", "8000-8100", " 22 ", "junk"] };
  assert.equal(checkTarget("a.com", 443, ports), null);
  assert.equal(checkTarget("a.com", 8000, ports), null);
  assert.equal(checkTarget("a.com", 8100, ports), null);
  assert.equal(checkTarget("a.com", 22, ports), null);
  assert.match(checkTarget("a.com", 80, ports)!, /port 80 is not in policy.allow_ports/);
  assert.match(checkTarget("a.com", 8101, ports)!, /allow_ports/);
});

Deno.test("checkTarget() applies deny and allow host patterns, case and trailing dot blind", () => {
  const p = {
    ...strict,
    denyHosts: ["bad.example.com", "*.evil.test"],
    allowHosts: ["*.example.com", "api.test"],
  };
  assert.equal(checkTarget("www.example.com", 443, p), null);
  assert.equal(checkTarget("WWW.Example.COM.", 443, p), null);
  assert.equal(checkTarget("example.com", 443, p), null); // *.x also matches x
  assert.equal(checkTarget("a.b.example.com", 443, p), null);
  assert.equal(checkTarget("api.test", 443, p), null);
  assert.match(
    checkTarget("bad.example.com", 443, p)!,
    /host bad.example.com is in policy.deny_hosts/,
  );
  assert.match(checkTarget("x.evil.test", 443, p)!, /deny_hosts/);
  assert.match(checkTarget("evil.test", 443, p)!, /deny_hosts/);
  assert.match(checkTarget("notexample.com", 443, p)!, /is not in policy.allow_hosts/);
  assert.match(checkTarget("example.com.evil.org", 443, p)!, /allow_hosts/);
  assert.match(checkTarget("www.api.test", 443, p)!, /allow_hosts/);
  // Deny wins over allow.
  const both = { ...strict, denyHosts: ["x.example.com"], allowHosts: ["*.example.com"] };
  assert.match(checkTarget("x.example.com", 443, both)!, /deny_hosts/);
});
