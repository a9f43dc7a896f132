import assert from "node:assert/strict";
import { join } from "node:path";
import { ConfigError, exitCodeFor } from "../errors.ts";
import { loadConfig, readConfigFile } from "./load.ts";
import { parseYamlConfig } from "./yaml_parse.ts";
import { SERVER_FIELDS } from "./server_config.ts";

function assertConfigError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${e}`);
    assert.equal(exitCodeFor(e), 2);
    assert.doesNotMatch(e.message, /\n/, "message is one line");
    assert.match(e.message, pattern);
    return true;
  });
}

Deno.test("parseYamlConfig() parses nested mappings", () => {
  assert.deepEqual(parseYamlConfig("a.yaml", "listen: 0.0.0.0:8443\ntls:\n  cert: x.crt\n"), {
    listen: "0.0.0.0:8443",
    tls: { cert: "x.crt" },
  });
});

Deno.test("parseYamlConfig() of an empty or comment-only file is null", () => {
  assert.equal(parseYamlConfig("a.yaml", ""), null);
  assert.equal(parseYamlConfig("a.yaml", "# nothing here\n"), null);
});

Deno.test("parseYamlConfig() reports a syntax error with file, line and column on one line", () => {
  const text = "listen: 0.0.0.0:8443\ntls:\n  cert: x.crt\npolicy:\n  allow_hosts: [a.com, b.com\n";
  assertConfigError(
    () => parseYamlConfig("conf/server.yaml", text),
    /^conf\/server\.yaml:6:1: invalid YAML: /,
  );
});

Deno.test("parseYamlConfig() reports bad indentation at its line", () => {
  assertConfigError(
    () => parseYamlConfig("s.yaml", "listen: 1.2.3.4:1\ntls:\n  cert: a\n   key: b\n"),
    /^s\.yaml:[34]:\d+: invalid YAML: /,
  );
});

Deno.test("parseYamlConfig() rejects duplicate keys, naming the line of the second", () => {
  assertConfigError(
    () => parseYamlConfig("s.yaml", "listen: a:1\ndrain_timeout: 5s\nlisten: b:2\n"),
    /^s\.yaml:3:1: invalid YAML: .*unique/,
  );
});

Deno.test("parseYamlConfig() rejects an unterminated quote and multiple documents", () => {
  assertConfigError(
    () => parseYamlConfig("s.yaml", 'listen: "1.2.3.4:1\n'),
    /^s\.yaml:\d+:\d+: invalid YAML: .*quote/,
  );
  assertConfigError(
    () => parseYamlConfig("s.yaml", "listen: a:1\n---\nlisten: b:2\n"),
    /^s\.yaml:2:\d+: invalid YAML: .*multiple documents/,
  );
});

Deno.test("parseYamlConfig() rejects an alias to an unknown anchor", () => {
  assertConfigError(
    () => parseYamlConfig("s.yaml", "listen: *nowhere\n"),
    /^s\.yaml:.*invalid YAML/,
  );
});

Deno.test("readConfigFile() on a missing file names the file and --config", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "missing.yaml");
    await assert.rejects(readConfigFile(path), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(exitCodeFor(e), 2);
      assert.equal(e.message, `${path}: cannot read config file: no such file (check --config)`);
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readConfigFile() on a directory is a ConfigError naming the path", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(readConfigFile(dir), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.ok(e.message.startsWith(`${dir}: cannot read config file: `));
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadConfig() reads the file and layers env and flags on top", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "server.yaml");
    await Deno.writeTextFile(
      path,
      "listen: 127.0.0.1:9443\ndial_timeout: 5s\nbreaker:\n  failures: 7\ntls:\n  cert: file.crt\n",
    );
    const v = await loadConfig(SERVER_FIELDS, {
      configPath: path,
      env: { FLUIDITY_BREAKER_FAILURES: "9", FLUIDITY_TLS_CERT: "env.crt" },
      flags: { cert: "flag.crt" },
    });
    assert.equal(v["listen"], "127.0.0.1:9443");
    assert.equal(v["dial_timeout"], 5000);
    assert.equal(v["breaker.failures"], 9);
    assert.equal(v["tls.cert"], "flag.crt");
    assert.equal(v["tls.key"], "certs/server.key");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadConfig() without a file uses defaults, env and flags", async () => {
  const v = await loadConfig(SERVER_FIELDS, { env: {}, flags: { listen: "[::1]:0" } });
  assert.equal(v["listen"], "[::1]:0");
  assert.equal(v["drain_timeout"], 30_000);
});

Deno.test("loadConfig() names the file and key for a bad value in it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "server.yaml");
    await Deno.writeTextFile(path, "breaker:\n  failures: lots\n");
    await assert.rejects(
      loadConfig(SERVER_FIELDS, { configPath: path }),
      (e: unknown) =>
        e instanceof ConfigError && e.message.startsWith(`${path}: breaker.failures: `),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
