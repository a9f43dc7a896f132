/**
 * The NTLM messages an upstream proxy handshake needs, from
 * `@node-ntlm/core`. Loaded only when a proxy asks for NTLM
 * (src/agent/upstream_proxy.ts): loading it up front cost every idle agent
 * ~3 MB of RSS (59.5 against 62-63 MB).
 */
export { createType1Message, createType3Message, parseType2Message } from "@node-ntlm/core";
