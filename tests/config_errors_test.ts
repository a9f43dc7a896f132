/**
 * Bad configuration, end to end through the loader: every case must be a
 * ConfigError (exit code 2) whose one-line message names where the value came
 * from (file, environment variable or flag) and the key path.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ConfigError, exitCodeFor } from "../src/errors.ts";
import { loadConfig } from "../src/config/load.ts";
import type { Field } from "../src/config/schema.ts";
import { SERVER_FIELDS } from "../src/config/server_config.ts";
import { AGENT_FIELDS } from "../src/config/agent_config.ts";

interface BadCase {
  name: string;
  fields: readonly Field[];
  /** YAML text written to a temp file named `<dir>/conf.yaml`. */
  yaml?: string;
  env?: Record<string, string>;
  flags?: Record<string, unknown>;
  /** Expected message after the source prefix (`<file>: `, `environment …`, `flag …`). */
  message: RegExp;
}

const SOURCE_FILE = "FILE";

const CASES: BadCase[] = [
  {
    name: "unknown top-level key suggests the nearest one",
    fields: SERVER_FIELDS,
    yaml: "lisen: 0.0.0.0:8443\n",
    message: /^FILE: lisen: unknown setting \(did you mean "listen"\?\)$/,
  },
  {
    name: "unknown nested key suggests the nearest one",
    fields: AGENT_FIELDS,
    yaml: "tls:\n  certs: certs/agent.crt\n",
    message: /^FILE: tls\.certs: unknown setting \(did you mean "tls\.cert"\?\)$/,
  },
  {
    name: "a key in the wrong section suggests where it lives",
    fields: AGENT_FIELDS,
    yaml: "api_key: abc\n",
    message: /^FILE: api_key: unknown setting \(did you mean "lifecycle\.api_key"\?\)$/,
  },
  {
    name: "an unrelated unknown key has no suggestion",
    fields: SERVER_FIELDS,
    yaml: "colour: blue\n",
    message: /^FILE: colour: unknown setting$/,
  },
  {
    name: "a string where a bool belongs",
    fields: SERVER_FIELDS,
    yaml: "allow_private_targets: enabled\n",
    message: /^FILE: allow_private_targets: expected true or false, got "enabled"$/,
  },
  {
    name: "a mapping where a string belongs",
    fields: SERVER_FIELDS,
    yaml: "tls:\n  cert:\n    path: x\n",
    message: /^FILE: tls\.cert: expected a string, got a mapping$/,
  },
  {
    name: "an integer below its range",
    fields: SERVER_FIELDS,
    yaml: "breaker:\n  failures: 0\n",
    message: /^FILE: breaker\.failures: expected an integer between 1 and 1000, got 0$/,
  },
  {
    name: "a fractional integer",
    fields: AGENT_FIELDS,
    yaml: "http:\n  max_connections: 2.5\n",
    message: /^FILE: http\.max_connections: expected an integer .*got 2\.5$/,
  },
  {
    name: "a malformed duration",
    fields: SERVER_FIELDS,
    yaml: "dial_timeout: 10 seconds\n",
    message: /^FILE: dial_timeout: expected a duration like "30s" or "5m" .*got "10 seconds"$/,
  },
  {
    name: "a duration out of range",
    fields: SERVER_FIELDS,
    yaml: "dial_timeout: 1h\n",
    message: /^FILE: dial_timeout: expected a duration .*between 100ms and 5m, got "1h"$/,
  },
  {
    name: "a malformed size",
    fields: SERVER_FIELDS,
    yaml: "link:\n  stream_window: 4 megs\n",
    message: /^FILE: link\.stream_window: expected a size like "64KiB" .*got "4 megs"$/,
  },
  {
    name: "a size out of range",
    fields: AGENT_FIELDS,
    yaml: "link:\n  stream_window: 1KiB\n",
    message: /^FILE: link\.stream_window: .*between 64KiB and 64MiB, got "1KiB"$/,
  },
  {
    name: "an address without a port",
    fields: SERVER_FIELDS,
    yaml: "listen: 0.0.0.0\n",
    message: /^FILE: listen: expected an address like "127\.0\.0\.1:8080", got "0\.0\.0\.0"$/,
  },
  {
    name: "an address with a port out of range",
    fields: AGENT_FIELDS,
    yaml: 'server: "[::1]:70000"\n',
    message: /^FILE: server: expected an address .*got "\[::1\]:70000"$/,
  },
  {
    name: "a value outside an enum",
    fields: AGENT_FIELDS,
    yaml: "log:\n  level: verbose\n",
    message: /^FILE: log\.level: expected one of "debug", "info", "warn", "error", got "verbose"$/,
  },
  {
    name: "a section given a scalar",
    fields: SERVER_FIELDS,
    yaml: "tls: 5\n",
    message: /^FILE: tls: expected a mapping, got 5$/,
  },
  {
    name: "a section given a list",
    fields: AGENT_FIELDS,
    yaml: "lifecycle:\n  - url\n",
    message: /^FILE: lifecycle: expected a mapping, got a list$/,
  },
  {
    name: "a top level that is a list",
    fields: SERVER_FIELDS,
    yaml: "- listen: 0.0.0.0:8443\n",
    message: /^FILE: expected a mapping of settings at the top level, got a list$/,
  },
  {
    name: "a top level that is a scalar",
    fields: AGENT_FIELDS,
    yaml: "just text\n",
    message: /^FILE: expected a mapping of settings at the top level, got "just text"$/,
  },
  {
    name: "a URL that does not parse",
    fields: AGENT_FIELDS,
    yaml: "lifecycle:\n  url: not a url\n",
    message:
      /^FILE: lifecycle\.url: expected a URL like "https:\/\/example\.com\/prod", got "not a url"$/,
  },
  {
    name: "a URL with a scheme other than http(s)",
    fields: AGENT_FIELDS,
    yaml: "lifecycle:\n  url: ftp://example.com/\n",
    message: /^FILE: lifecycle\.url: expected a URL .*got "ftp:\/\/example\.com\/"$/,
  },
  {
    name: "a list given a mapping",
    fields: SERVER_FIELDS,
    yaml: "policy:\n  allow_hosts:\n    a: 1\n",
    message: /^FILE: policy\.allow_hosts: expected a list of strings, got a mapping$/,
  },
  {
    name: "a YAML syntax error names the line",
    fields: SERVER_FIELDS,
    yaml: "listen: 0.0.0.0:8443\npolicy:\n  allow_hosts: [a, b\n",
    message: /^FILE:4:1: invalid YAML: /,
  },
  {
    name: "a bad duration in an environment variable",
    fields: SERVER_FIELDS,
    env: { FLUIDITY_DIAL_TIMEOUT: "forever" },
    message:
      /^environment FLUIDITY_DIAL_TIMEOUT \(dial_timeout\): expected a duration .*got "forever"$/,
  },
  {
    name: "a bad bool in an environment variable",
    fields: SERVER_FIELDS,
    env: { FLUIDITY_METRICS_CLOUDWATCH: "perhaps" },
    message:
      /^environment FLUIDITY_METRICS_CLOUDWATCH \(metrics\.cloudwatch\): expected true or false, got "perhaps"$/,
  },
  {
    name: "a bad nested int in an environment variable",
    fields: AGENT_FIELDS,
    env: { FLUIDITY_RECONNECT_REDISCOVER_AFTER: "three" },
    message: /^environment FLUIDITY_RECONNECT_REDISCOVER_AFTER \(reconnect\.rediscover_after\): /,
  },
  {
    name: "a bad address in a flag",
    fields: AGENT_FIELDS,
    flags: { listen: "localhost" },
    message: /^flag --listen \(listen\): expected an address .*got "localhost"$/,
  },
  {
    name: "a bad enum in a flag",
    fields: SERVER_FIELDS,
    flags: { "log-format": "xml" },
    message: /^flag --log-format \(log\.format\): expected one of "text", "json", got "xml"$/,
  },
  {
    name: "a bad URL in a flag",
    fields: AGENT_FIELDS,
    flags: { "lifecycle-url": "example.com/prod" },
    message: /^flag --lifecycle-url \(lifecycle\.url\): expected a URL/,
  },
];

for (const c of CASES) {
  Deno.test(`bad config: ${c.name} → ConfigError, exit 2, source and key named`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "fluidity-config-" });
    try {
      let configPath: string | undefined;
      if (c.yaml !== undefined) {
        configPath = join(dir, "conf.yaml");
        await Deno.writeTextFile(configPath, c.yaml);
      }
      const err = await loadConfig(c.fields, { configPath, env: c.env ?? {}, flags: c.flags })
        .then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${err}`);
      assert.equal(exitCodeFor(err), 2);
      assert.ok(!err.message.includes("\n"), `one line: ${JSON.stringify(err.message)}`);
      const message = configPath ? err.message.replaceAll(configPath, SOURCE_FILE) : err.message;
      assert.match(message, c.message);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("bad config: the file is checked before the environment, which is checked before flags", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fluidity-config-" });
  try {
    const configPath = join(dir, "conf.yaml");
    await Deno.writeTextFile(configPath, "dial_timeout: never\n");
    const env = { FLUIDITY_DIAL_TIMEOUT: "never" };
    const flags = { listen: "nowhere" };
    await assert.rejects(loadConfig(SERVER_FIELDS, { configPath, env, flags }), (e: unknown) => {
      assert.ok(e instanceof ConfigError && e.message.startsWith(`${configPath}: dial_timeout:`));
      return true;
    });
    await assert.rejects(
      loadConfig(SERVER_FIELDS, { env, flags }),
      /^ConfigError: environment FLUIDITY_DIAL_TIMEOUT/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bad config: an invalid file value is reported even when env or a flag would override it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fluidity-config-" });
  try {
    const configPath = join(dir, "conf.yaml");
    await Deno.writeTextFile(configPath, "listen: nowhere\n");
    await assert.rejects(
      loadConfig(SERVER_FIELDS, { configPath, flags: { listen: "127.0.0.1:1" } }),
      (e: unknown) => e instanceof ConfigError && e.message.includes(": listen: "),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bad config: there are at least ten distinct cases", () => {
  assert.ok(CASES.length >= 10);
  assert.ok(CASES.some((c) => c.env) && CASES.some((c) => c.flags) && CASES.some((c) => c.yaml));
});
