/**
 * Strict HTTP/1.x head parsing for a proxy. Header lines are kept as the
 * client sent them (order, case, duplicates) so they can be forwarded byte
 * for byte; only the fields the proxy needs are interpreted. Every rule that
 * guards against request smuggling is enforced here.
 */

/** A malformed head; `status` is what to answer (400, 501, 505, 431). */
export class HttpError extends Error {
  override name = "HttpError";
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** How the body after a head is delimited. */
export type BodyFraming =
  | { kind: "none" }
  | { kind: "length"; length: number }
  | { kind: "chunked" }
  | { kind: "close" };

export interface HeaderLine {
  /** The raw line without its line ending. */
  raw: string;
  /** Lower-cased name. */
  name: string;
  /** Value with surrounding whitespace trimmed. */
  value: string;
}

export interface RequestHead {
  method: string;
  /** As sent: absolute-form URL, authority (CONNECT) or origin-form. */
  target: string;
  version: "HTTP/1.0" | "HTTP/1.1";
  headers: HeaderLine[];
  framing: BodyFraming;
  /** Connection tokens (lower case), from Connection (and Proxy-Connection). */
  connection: Set<string>;
}

export interface ResponseHead {
  version: string;
  status: number;
  statusLine: string;
  headers: HeaderLine[];
  connection: Set<string>;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Visible ASCII, obs-text, space and tab; no other control characters.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const MAX_LENGTH = Number.MAX_SAFE_INTEGER;

const WINDOWS_1252 = new TextDecoder("windows-1252");
const ENCODER = new TextEncoder();
// deno-lint-ignore no-control-regex
const ASCII = /^[\x00-\x7f]*$/;

/**
 * Bytes → string with one char per byte (header bytes are not UTF-8 text).
 * `TextDecoder("latin1")` is windows-1252 under WHATWG, which turns 0x80–0x9F
 * into other code points: the native decoder is used, and only when such a
 * code point appears is the head decoded again byte by byte.
 */
export function bytesToLatin1(b: Uint8Array): string {
  const s = WINDOWS_1252.decode(b);
  if (!/[\u0100-\uffff]/.test(s)) return s;
  let out = "";
  for (let i = 0; i < b.length; i += 4096) {
    out += String.fromCharCode.apply(null, b.subarray(i, i + 4096) as unknown as number[]);
  }
  return out;
}

/** String with one char per byte → bytes. */
export function latin1ToBytes(s: string): Uint8Array {
  if (ASCII.test(s)) return ENCODER.encode(s);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

function splitLines(head: string): string[] {
  const lines = head.split("\n");
  // Drop the terminating blank line(s).
  while (lines.length && (lines[lines.length - 1] === "" || lines[lines.length - 1] === "\r")) {
    lines.pop();
  }
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (l.charCodeAt(l.length - 1) === 13) lines[i] = l.slice(0, -1);
  }
  return lines;
}

const isBlank = (c: number) => c === 32 || c === 9;

function parseHeaders(lines: string[], limitCount: number, from = 0): HeaderLine[] {
  if (lines.length - from > limitCount) {
    throw new HttpError(431, `more than ${limitCount} header lines`);
  }
  const out: HeaderLine[] = [];
  for (let i = from; i < lines.length; i++) {
    const raw = lines[i]!;
    if (raw.includes("\r")) throw new HttpError(400, "bare CR in a header line");
    if (isBlank(raw.charCodeAt(0))) {
      throw new HttpError(400, "obsolete line folding in headers is not accepted");
    }
    const colon = raw.indexOf(":");
    if (colon <= 0) {
      throw new HttpError(400, `malformed header line ${JSON.stringify(raw.slice(0, 40))}`);
    }
    const name = raw.slice(0, colon);
    if (!TOKEN.test(name)) {
      throw new HttpError(400, `invalid header name ${JSON.stringify(name.slice(0, 40))}`);
    }
    let start = colon + 1;
    let end = raw.length;
    while (start < end && isBlank(raw.charCodeAt(start))) start++;
    while (end > start && isBlank(raw.charCodeAt(end - 1))) end--;
    const value = raw.slice(start, end);
    if (!FIELD_VALUE.test(value)) throw new HttpError(400, `invalid characters in header ${name}`);
    out.push({ raw, name: name.toLowerCase(), value });
  }
  return out;
}

function connectionTokens(headers: HeaderLine[], names: string[]): Set<string> {
  const set = new Set<string>();
  for (const h of headers) {
    if (!names.includes(h.name)) continue;
    for (const t of h.value.split(",")) {
      const v = t.trim().toLowerCase();
      if (v) set.add(v);
    }
  }
  return set;
}

/** Body framing from Transfer-Encoding / Content-Length (RFC 9112 §6). */
function framingOf(headers: HeaderLine[], isRequest: boolean): BodyFraming {
  const te: HeaderLine[] = [];
  const cl: HeaderLine[] = [];
  for (const h of headers) {
    if (h.name === "transfer-encoding") te.push(h);
    else if (h.name === "content-length") cl.push(h);
  }
  if (te.length) {
    if (cl.length) {
      throw new HttpError(
        400,
        "both Transfer-Encoding and Content-Length (request smuggling risk)",
      );
    }
    const codings = te.flatMap((h) => h.value.split(",")).map((s) => s.trim().toLowerCase())
      .filter((s) => s !== "");
    if (codings[codings.length - 1] !== "chunked") {
      if (isRequest) {
        throw new HttpError(400, "Transfer-Encoding without chunked as the final coding");
      }
      return { kind: "close" };
    }
    if (codings.filter((c) => c === "chunked").length > 1) {
      throw new HttpError(400, "chunked applied more than once");
    }
    return { kind: "chunked" };
  }
  if (cl.length) {
    const values = new Set(cl.flatMap((h) => h.value.split(",")).map((s) => s.trim()));
    if (values.size !== 1) throw new HttpError(400, "conflicting Content-Length values");
    const v = [...values][0]!;
    if (!/^\d{1,16}$/.test(v) || Number(v) > MAX_LENGTH) {
      throw new HttpError(400, `invalid Content-Length ${JSON.stringify(v.slice(0, 20))}`);
    }
    const n = Number(v);
    return n === 0 ? { kind: "none" } : { kind: "length", length: n };
  }
  return isRequest ? { kind: "none" } : { kind: "close" };
}

/** Parses a request head (bytes up to and including the blank line). */
export function parseRequestHead(bytes: Uint8Array, maxHeaders = 256): RequestHead {
  const lines = splitLines(bytesToLatin1(bytes));
  const first = lines[0] ?? "";
  if (first === "") throw new HttpError(400, "empty request line");
  const parts = first.split(" ");
  if (parts.length !== 3) {
    throw new HttpError(400, `malformed request line ${JSON.stringify(first.slice(0, 60))}`);
  }
  const [method, target, version] = parts as [string, string, string];
  if (!TOKEN.test(method)) {
    throw new HttpError(400, `invalid method ${JSON.stringify(method.slice(0, 20))}`);
  }
  if (!/^HTTP\/\d\.\d$/.test(version)) {
    throw new HttpError(400, `invalid HTTP version ${JSON.stringify(version.slice(0, 20))}`);
  }
  if (version !== "HTTP/1.1" && version !== "HTTP/1.0") {
    throw new HttpError(505, `HTTP version ${version} is not supported`);
  }
  // deno-lint-ignore no-control-regex
  if (target === "" || /[\x00-\x20\x7f]/.test(target)) {
    throw new HttpError(400, "invalid request target");
  }
  const headers = parseHeaders(lines, maxHeaders, 1);
  const framing = framingOf(headers, true);
  return {
    method,
    target,
    version,
    headers,
    framing,
    connection: connectionTokens(headers, ["connection", "proxy-connection"]),
  };
}

/** Parses a response head. `framing` needs the request (HEAD, CONNECT). */
export function parseResponseHead(bytes: Uint8Array, maxHeaders = 512): ResponseHead {
  const lines = splitLines(bytesToLatin1(bytes));
  const statusLine = lines[0] ?? "";
  const m = /^(HTTP\/\d\.\d) (\d{3})(?: .*)?$/.exec(statusLine);
  if (!m) {
    throw new HttpError(
      502,
      `malformed status line from the origin ${JSON.stringify(statusLine.slice(0, 60))}`,
    );
  }
  let headers: HeaderLine[];
  try {
    headers = parseHeaders(lines, maxHeaders, 1);
  } catch (e) {
    throw new HttpError(502, `malformed response from the origin: ${(e as Error).message}`);
  }
  return {
    version: m[1]!,
    status: Number(m[2]),
    statusLine,
    headers,
    connection: connectionTokens(headers, ["connection"]),
  };
}

/** How a response body is delimited (RFC 9112 §6.3). */
export function responseFraming(res: ResponseHead, requestMethod: string): BodyFraming {
  if (requestMethod === "HEAD" || res.status === 204 || res.status === 304 || res.status < 200) {
    return { kind: "none" };
  }
  try {
    return framingOf(res.headers, false);
  } catch (e) {
    throw new HttpError(502, `malformed response from the origin: ${(e as Error).message}`);
  }
}

/** Whether the client connection may carry another request after this exchange. */
export function clientKeepAlive(req: RequestHead): boolean {
  if (req.connection.has("close")) return false;
  if (req.version === "HTTP/1.0") return req.connection.has("keep-alive");
  return true;
}

/** Headers meant for the proxy itself, never forwarded. */
const PROXY_HEADERS = new Set(["proxy-connection", "proxy-authorization", "proxy-authenticate"]);

/**
 * The head to send to the origin: request line in origin-form, every header
 * line as received except the proxy's own.
 */
export function originRequestHead(req: RequestHead, originTarget: string): Uint8Array {
  let s = `${req.method} ${originTarget} ${req.version}\r\n`;
  for (const h of req.headers) if (!PROXY_HEADERS.has(h.name)) s += h.raw + "\r\n";
  s += "\r\n";
  return latin1ToBytes(s);
}

export interface ProxyTarget {
  host: string;
  port: number;
  /** `host:port` for the tunnel (IPv6 bracketed). */
  authority: string;
  /** Path and query for the origin-form request line. */
  path: string;
}

/** Splits `host:port` of CONNECT; throws HttpError(400). */
export function parseAuthority(text: string, defaultPort?: number): ProxyTarget {
  const m = /^\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?$/.exec(text) ??
    /^([A-Za-z0-9._~!$&'()*+,;=%-]+)(?::(\d{1,5}))?$/.exec(text);
  if (!m) throw new HttpError(400, `invalid authority ${JSON.stringify(text.slice(0, 80))}`);
  const host = m[1]!;
  const port = m[2] !== undefined ? Number(m[2]) : defaultPort;
  if (port === undefined) {
    throw new HttpError(400, `missing port in ${JSON.stringify(text.slice(0, 80))}`);
  }
  if (port < 1 || port > 65535) {
    throw new HttpError(400, `invalid port ${port} in ${JSON.stringify(text.slice(0, 80))}`);
  }
  if (host.length > 253) throw new HttpError(400, "host name too long");
  const authority = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  return { host, port, authority, path: "" };
}

/** Splits an absolute-form `http://host[:port]/path?q` target; throws HttpError(400). */
export function parseAbsoluteTarget(target: string): ProxyTarget {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^#]*)/.exec(target);
  if (!m) {
    throw new HttpError(
      400,
      target.startsWith("/")
        ? "this is a proxy: send absolute-form requests (http://host/path) or CONNECT"
        : `invalid request target ${JSON.stringify(target.slice(0, 80))}`,
    );
  }
  const scheme = m[1]!.toLowerCase();
  if (scheme !== "http" && scheme !== "ws") {
    throw new HttpError(
      400,
      `scheme ${scheme}:// is not proxied as a plain request; use CONNECT for https`,
    );
  }
  let authority = m[2]!;
  if (authority.includes("@")) authority = authority.slice(authority.lastIndexOf("@") + 1);
  if (authority === "") throw new HttpError(400, "request target has no host");
  const t = parseAuthority(authority, 80);
  let path = m[3]!;
  if (path === "") path = "/";
  else if (path.startsWith("?")) path = "/" + path;
  return { ...t, path };
}
