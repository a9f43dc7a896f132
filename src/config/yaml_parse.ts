/** YAML text → plain data, with one-line errors naming file, line and column. */
import YAML, { LineCounter } from "yaml";
import { ConfigError } from "../errors.ts";

/** Parses YAML text; a syntax error becomes a one-line {@linkcode ConfigError} naming file and line. */
export function parseYamlConfig(path: string, text: string): unknown {
  // With prettyErrors off, yaml leaves `linePos` unset: count lines ourselves.
  const lineCounter = new LineCounter();
  const doc = YAML.parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter });
  const err = doc.errors[0];
  if (err) {
    const pos = lineCounter.linePos(err.pos[0]);
    const msg = err.message.split("\n")[0];
    throw new ConfigError(`${path}:${pos.line}:${pos.col}: invalid YAML: ${msg}`);
  }
  try {
    return doc.toJS();
  } catch (e) {
    // e.g. an alias to an undefined anchor, or too many alias expansions
    throw new ConfigError(`${path}: invalid YAML: ${(e as Error).message.split("\n")[0]}`, {
      cause: e,
    });
  }
}
