/**
 * The example configs and the docs key tables are generated from the field
 * lists; these tests fail when they drift or stop loading.
 */
import assert from "node:assert/strict";
import { parseYamlConfig } from "../src/config/yaml_parse.ts";
import { envName, type Field, resolveConfig } from "../src/config/schema.ts";
import { AGENT_FIELDS } from "../src/config/agent_config.ts";
import { SERVER_FIELDS } from "../src/config/server_config.ts";
import { exampleYaml, OUTPUTS, renderDocs, ROOT } from "../scripts/gen_examples.ts";

const EXAMPLES = [
  { role: "agent", path: "agent.example.yaml", fields: AGENT_FIELDS },
  { role: "server", path: "server.example.yaml", fields: SERVER_FIELDS },
] as const;

function read(path: string): Promise<string> {
  return Deno.readTextFile(new URL(path, ROOT));
}

function lookup(data: unknown, key: string): { found: boolean; value?: unknown } {
  let node = data;
  for (const part of key.split(".")) {
    if (node === null || typeof node !== "object" || !(part in node)) return { found: false };
    node = (node as Record<string, unknown>)[part];
  }
  return { found: true, value: node };
}

for (const ex of EXAMPLES) {
  Deno.test(`${ex.path} loads cleanly and resolves to exactly the defaults`, async () => {
    const data = parseYamlConfig(ex.path, await read(ex.path));
    const values = resolveConfig(ex.fields, { file: { path: ex.path, data } });
    const defaults = resolveConfig(ex.fields, {});
    assert.deepEqual(values, defaults);
  });

  Deno.test(`${ex.path} sets every ${ex.role} key, with its help and env name`, async () => {
    const text = await read(ex.path);
    const data = parseYamlConfig(ex.path, text);
    for (const f of ex.fields as readonly Field[]) {
      assert.ok(lookup(data, f.key).found, `${f.key} is set in ${ex.path}`);
      assert.ok(text.includes(`# ${f.help}\n`), `${f.key} help is in ${ex.path}`);
      assert.ok(text.includes(envName(f.key)), `${envName(f.key)} is in ${ex.path}`);
      if (f.flag) assert.ok(text.includes(`--${f.flag}`), `--${f.flag} is in ${ex.path}`);
    }
  });

  Deno.test(`${ex.path} is the committed output of scripts/gen_examples.ts`, async () => {
    assert.equal(
      await read(ex.path),
      exampleYaml(ex.role),
      `${ex.path} is stale: run deno run -A scripts/gen_examples.ts`,
    );
  });
}

Deno.test("docs/configuration.md key tables are current and list every key", async () => {
  const doc = await read("docs/configuration.md");
  assert.equal(doc, renderDocs(doc), "stale: run deno run -A scripts/gen_examples.ts --docs");
  for (const f of [...AGENT_FIELDS, ...SERVER_FIELDS]) {
    assert.ok(doc.includes(`| \`${f.key}\``), `${f.key} has a row`);
    assert.ok(doc.includes(`\`${envName(f.key)}\``), `${envName(f.key)} is documented`);
  }
});

Deno.test("docs/configuration.md explains precedence, env naming, value syntax and exit codes", async () => {
  const doc = await read("docs/configuration.md");
  assert.match(
    doc,
    /defaults\s+<\s+YAML file.*<\s+FLUIDITY_\* environment variables\s+<\s+command-line flags/,
  );
  assert.match(doc, /`tls\.cert`\s*\|\s*`FLUIDITY_TLS_CERT`/);
  assert.match(doc, /PEM text/);
  assert.match(doc, /1m30s/);
  assert.match(doc, /64KiB/);
  assert.match(doc, /\| 2 +\| usage or configuration error/);
  assert.match(doc, /--log-format/);
});

Deno.test("renderDocs() refuses a document without its markers", () => {
  assert.throws(() => renderDocs("# nothing\n"), /markers for agent-keys are missing/);
});

Deno.test("every generated output is current (what gen_examples.ts --check verifies)", async () => {
  for (const o of OUTPUTS) {
    const current = await read(o.path);
    assert.equal(o.render(current), current, `${o.path} is stale`);
  }
});
