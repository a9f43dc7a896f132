import assert from "node:assert/strict";
import { ConfigError } from "../errors.ts";
import { coerce, envName, type Field, publicValues, resolveConfig } from "./schema.ts";
import { SERVER_FIELDS } from "./server_config.ts";
import { formatDuration, formatSize } from "./values.ts";
import { AGENT_FIELDS } from "./agent_config.ts";

const FIELDS: readonly Field[] = [
  { key: "listen", kind: "address", default: "127.0.0.1:8080", flag: "listen", help: "" },
  { key: "tls.cert", kind: "string", default: "certs/a.crt", flag: "cert", help: "" },
  { key: "tls.key", kind: "string", default: "certs/a.key", flag: "key", secret: true, help: "" },
  { key: "api_key", kind: "string", default: "", flag: "api-key", secret: true, help: "" },
  { key: "verbose", kind: "bool", default: false, flag: "verbose", help: "" },
  { key: "hosts", kind: "list", default: [], help: "" },
  { key: "mode", kind: "enum", values: ["a", "b"], default: "a", flag: "mode", help: "" },
  { key: "count", kind: "int", default: 3, min: 1, max: 10, help: "" },
  { key: "wait", kind: "duration", default: 1000, min: 0, max: 120_000, help: "" },
  { key: "window", kind: "size", default: 1024, help: "" },
  { key: "url", kind: "url", default: "", help: "" },
];

function field(key: string): Field {
  return FIELDS.find((f) => f.key === key)!;
}

Deno.test("envName() maps dotted and dashed keys to FLUIDITY_*", () => {
  assert.equal(envName("tls.cert"), "FLUIDITY_TLS_CERT");
  assert.equal(envName("link.stream_window"), "FLUIDITY_LINK_STREAM_WINDOW");
  assert.equal(envName("a-b"), "FLUIDITY_A_B");
});

Deno.test("resolveConfig() with no sources gives the defaults", () => {
  const v = resolveConfig(FIELDS, {});
  for (const f of FIELDS) assert.deepEqual(v[f.key], f.default);
});

Deno.test("resolveConfig() layers defaults < file < env < flags for one key", async (t) => {
  const file = { path: "a.yaml", data: { tls: { cert: "from-file.crt" } } };
  const env = { FLUIDITY_TLS_CERT: "from-env.crt" };
  const flags = { cert: "from-flag.crt" };
  await t.step("default alone", () => {
    assert.equal(resolveConfig(FIELDS, {})["tls.cert"], "certs/a.crt");
  });
  await t.step("file beats default", () => {
    assert.equal(resolveConfig(FIELDS, { file })["tls.cert"], "from-file.crt");
  });
  await t.step("env beats file", () => {
    assert.equal(resolveConfig(FIELDS, { file, env })["tls.cert"], "from-env.crt");
  });
  await t.step("flag beats env and file", () => {
    assert.equal(resolveConfig(FIELDS, { file, env, flags })["tls.cert"], "from-flag.crt");
  });
  await t.step("flag beats file without env", () => {
    assert.equal(resolveConfig(FIELDS, { file, flags })["tls.cert"], "from-flag.crt");
  });
  await t.step("other keys keep their defaults", () => {
    const v = resolveConfig(FIELDS, { file, env, flags });
    assert.equal(v["tls.key"], "certs/a.key");
    assert.equal(v["listen"], "127.0.0.1:8080");
  });
});

Deno.test("resolveConfig() ignores non-FLUIDITY environment variables and unset flags", () => {
  const v = resolveConfig(FIELDS, {
    env: { TLS_CERT: "x", HOME: "/root", FLUIDITY_TLS_CERT: undefined },
    flags: { cert: undefined },
  });
  assert.equal(v["tls.cert"], "certs/a.crt");
});

Deno.test("resolveConfig() takes the PEM text itself from the environment", () => {
  const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  const v = resolveConfig(FIELDS, { env: { FLUIDITY_TLS_CERT: pem } });
  assert.equal(v["tls.cert"], pem);
});

Deno.test("coerce() bool accepts YAML booleans and common words from text", () => {
  const f = field("verbose");
  for (const t of ["true", "TRUE", "1", "yes", "on"]) assert.equal(coerce(f, t, true), true);
  for (const t of ["false", "False", "0", "no", "off"]) assert.equal(coerce(f, t, true), false);
  assert.equal(coerce(f, true, false), true);
  assert.throws(() => coerce(f, "maybe", true), /expected true or false, got "maybe"/);
  assert.throws(() => coerce(f, 1, false), /expected true or false, got 1/);
});

Deno.test("resolveConfig() coerces a boolean flag and env var", () => {
  assert.equal(resolveConfig(FIELDS, { flags: { verbose: true } })["verbose"], true);
  assert.equal(resolveConfig(FIELDS, { env: { FLUIDITY_VERBOSE: "yes" } })["verbose"], true);
  assert.equal(
    resolveConfig(FIELDS, {
      file: { path: "f", data: { verbose: true } },
      env: { FLUIDITY_VERBOSE: "0" },
    })[
      "verbose"
    ],
    false,
  );
});

Deno.test("coerce() list takes YAML sequences and comma-separated text", () => {
  const f = field("hosts");
  assert.deepEqual(coerce(f, ["a.com", "*.b.com"], false), ["a.com", "*.b.com"]);
  assert.deepEqual(coerce(f, [80, "443"], false), ["80", "443"]);
  assert.deepEqual(coerce(f, "a.com, b.com,,c.com ", true), ["a.com", "b.com", "c.com"]);
  assert.deepEqual(coerce(f, "", true), []);
  assert.throws(() => coerce(f, [{ a: 1 }], false), /expected a list of strings, got a list/);
  assert.throws(() => coerce(f, { a: 1 }, false), /expected a list of strings, got a mapping/);
  const v = resolveConfig(FIELDS, { env: { FLUIDITY_HOSTS: "x.com,y.com" } });
  assert.deepEqual(v["hosts"], ["x.com", "y.com"]);
});

Deno.test("coerce() enum accepts only the listed values", () => {
  const f = field("mode");
  assert.equal(coerce(f, "b", true), "b");
  assert.throws(() => coerce(f, "c", true), /expected one of "a", "b", got "c"/);
  assert.throws(() => coerce(f, "A", true), /got "A"/);
});

Deno.test("coerce() int checks integer syntax and bounds", () => {
  const f = field("count");
  assert.equal(coerce(f, "7", true), 7);
  assert.equal(coerce(f, 10, false), 10);
  assert.throws(() => coerce(f, "1.5", true), /expected an integer between 1 and 10, got "1.5"/);
  assert.throws(() => coerce(f, 11, false), /between 1 and 10, got 11/);
  assert.throws(() => coerce(f, "0", true), /got "0"/);
  assert.throws(() => coerce(f, "seven", true), /got "seven"/);
});

Deno.test("coerce() duration reads text, bare numbers as seconds, and checks bounds", () => {
  const f = field("wait");
  assert.equal(coerce(f, "1m30s", true), 90_000);
  assert.equal(coerce(f, "250ms", true), 250);
  assert.equal(coerce(f, 30, false), 30_000);
  assert.equal(coerce(f, "30", true), 30_000);
  assert.equal(coerce(f, 1.5, false), 1500);
  assert.throws(() => coerce(f, "3m", true), /between 0s and 2m, got "3m"/);
  assert.throws(() => coerce(f, "soon", true), /expected a duration like "30s"/);
  assert.throws(() => coerce(f, -1, false), /got -1/);
});

Deno.test("coerce() size reads units and plain byte counts", () => {
  const f = field("window");
  assert.equal(coerce(f, "64KiB", true), 65536);
  assert.equal(coerce(f, 4096, false), 4096);
  assert.throws(() => coerce(f, "lots", true), /expected a size like "64KiB"/);
  assert.throws(() => coerce(f, 1.5, false), /got 1.5/);
});

Deno.test("coerce() address and url validate and normalise", () => {
  assert.equal(coerce(field("listen"), "[::1]:0", true), "[::1]:0");
  assert.throws(() => coerce(field("listen"), "", true), /expected an address/);
  assert.equal(coerce(field("url"), "https://x.example/prod/", true), "https://x.example/prod");
  assert.equal(coerce(field("url"), "", true), "");
  assert.throws(() => coerce(field("url"), "ftp://x", true), /expected a URL/);
  assert.throws(() => coerce(field("url"), "not a url", true), /expected a URL/);
});

Deno.test("publicValues() hides set secrets and keeps everything else", () => {
  const v = resolveConfig(FIELDS, {
    env: { FLUIDITY_API_KEY: "s3cr3t-api-key", FLUIDITY_TLS_KEY: "-----BEGIN PRIVATE KEY-----" },
  });
  const p = publicValues(FIELDS, v);
  assert.equal(p["api_key"], "[redacted]");
  assert.equal(p["tls.key"], "[redacted]");
  assert.equal(p["tls.cert"], "certs/a.crt");
  assert.doesNotMatch(JSON.stringify(p), /s3cr3t|BEGIN PRIVATE/);
  // An unset secret shows as empty rather than as a redaction marker.
  assert.equal(publicValues(FIELDS, resolveConfig(FIELDS, {}))["api_key"], "");
});

Deno.test("publicValues() hides the real agent and server secrets", () => {
  const agent = resolveConfig(AGENT_FIELDS, {
    env: { FLUIDITY_LIFECYCLE_API_KEY: "k-123456", FLUIDITY_TLS_KEY: "PEMTEXT" },
  });
  assert.doesNotMatch(JSON.stringify(publicValues(AGENT_FIELDS, agent)), /k-123456|PEMTEXT/);
  const server = resolveConfig(SERVER_FIELDS, { flags: { key: "PEMTEXT" } });
  assert.doesNotMatch(JSON.stringify(publicValues(SERVER_FIELDS, server)), /PEMTEXT/);
});

Deno.test("resolveConfig() treats a section left empty in YAML as no settings", () => {
  const v = resolveConfig(FIELDS, { file: { path: "f.yaml", data: { tls: null } } });
  assert.equal(v["tls.cert"], "certs/a.crt");
  assert.deepEqual(
    resolveConfig(FIELDS, { file: { path: "f.yaml", data: null } }),
    resolveConfig(FIELDS, {}),
  );
});

Deno.test("resolveConfig() errors are ConfigErrors naming source and key", () => {
  assert.throws(
    () => resolveConfig(FIELDS, { file: { path: "f.yaml", data: { count: 0 } } }),
    (e: unknown) => e instanceof ConfigError && e.message.startsWith("f.yaml: count: "),
  );
  assert.throws(
    () => resolveConfig(FIELDS, { env: { FLUIDITY_COUNT: "x" } }),
    (e: unknown) =>
      e instanceof ConfigError && e.message.startsWith("environment FLUIDITY_COUNT (count): "),
  );
  assert.throws(
    () => resolveConfig(FIELDS, { flags: { mode: "z" } }),
    (e: unknown) => e instanceof ConfigError && e.message.startsWith("flag --mode (mode): "),
  );
});

Deno.test("every agent and server field has a valid default, help and unique env name", () => {
  for (const fields of [AGENT_FIELDS, SERVER_FIELDS]) {
    const envs = new Set<string>();
    const flags = new Set<string>();
    for (const f of fields) {
      assert.ok(f.help.length > 0, `${f.key} has help`);
      assert.ok(!envs.has(envName(f.key)), `${f.key} env name is unique`);
      envs.add(envName(f.key));
      if (f.flag) {
        assert.ok(!flags.has(f.flag), `--${f.flag} is unique`);
        flags.add(f.flag);
      }
      // The default, written as a user would write it, passes validation unchanged.
      const text = f.kind === "duration"
        ? formatDuration(f.default as number)
        : f.kind === "size"
        ? formatSize(f.default as number)
        : f.default;
      assert.deepEqual(coerce(f, text, false), f.default, `${f.key} default`);
    }
  }
});
