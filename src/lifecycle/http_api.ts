/**
 * The lifecycle HTTP API as a pure request → response function, shared by the
 * local control plane (`Deno.serve`) and the API Gateway Lambdas.
 */
import { kill, type LifecycleDeps, query, wake } from "./handlers.ts";
import { ProviderThrottledError } from "./types.ts";

export interface ApiRequest {
  method: string;
  /** Request path, optionally with a stage prefix (`/prod/wake`) and a query string. */
  path: string;
  /** Header names in any case. */
  headers: Record<string, string | undefined>;
  body?: string | null;
}

export interface ApiResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

const ROUTES = { wake, query, kill } as const;
type Route = keyof typeof ROUTES;
// At most one stage segment in front: /wake, /prod/wake, /wake/
const PATH = /^(?:\/[^/]+)?\/(wake|query|kill)\/?$/;

/**
 * Answers one lifecycle request. `apiKey` undefined means no key check (API
 * Gateway enforces keys itself); otherwise `x-api-key` must match (compared in
 * constant time) or the answer is 403 `{"message":"Forbidden"}`. Only POST on
 * `/wake`, `/query`, `/kill` (405 for other methods, 404 for other paths).
 * Provider failures become 500 `{"message":…}`; throttling becomes 503 with
 * `Retry-After`. Never throws.
 */
export async function handleLifecycleRequest(
  req: ApiRequest,
  deps: LifecycleDeps & { apiKey?: string },
): Promise<ApiResponse> {
  const path = req.path.split("?")[0] ?? "";
  const log = deps.logger?.child({ method: req.method, path });
  // The key is checked first so an unauthenticated caller learns nothing about routes.
  if (deps.apiKey !== undefined) {
    const given = headerValue(req.headers, "x-api-key");
    if (given === undefined || !(await constantTimeEqual(given, deps.apiKey))) {
      log?.warn("lifecycle request refused: missing or wrong x-api-key", {
        keyPresent: given !== undefined,
      });
      return json(403, { message: "Forbidden" });
    }
  }
  const m = PATH.exec(path);
  if (!m) return json(404, { message: `Not Found: ${path}` });
  if (req.method.toUpperCase() !== "POST") {
    return json(405, { message: `Method ${req.method} not allowed; use POST` }, { allow: "POST" });
  }
  const route = m[1] as Route;
  try {
    const body = await ROUTES[route](deps);
    log?.info(`lifecycle ${route}`, { result: body });
    return json(200, body);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (e instanceof ProviderThrottledError) {
      log?.warn(`lifecycle ${route} throttled`, { error: message });
      return json(503, { message: `throttled: ${message}` }, {
        "retry-after": String(Math.max(1, Math.ceil(e.retryAfterSeconds))),
      });
    }
    log?.error(`lifecycle ${route} failed`, { error: message });
    return json(500, { message: `${route} failed: ${message}` });
  }
}

function json(
  statusCode: number,
  body: unknown,
  extra: Record<string, string> = {},
): ApiResponse {
  return {
    statusCode,
    headers: { "content-type": "application/json", "cache-control": "no-store", ...extra },
    body: JSON.stringify(body),
  };
}

function headerValue(
  headers: Record<string, string | undefined>,
  name: string,
): string | undefined {
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() === name && v !== undefined) return v;
  }
  return undefined;
}

/** Compares SHA-256 digests byte by byte without early exit, so timing leaks neither content nor length. */
async function constantTimeEqual(a: string, b: string): Promise<boolean> {
  const enc = new TextEncoder();
  const [da, db] = await Promise.all([
    crypto.subtle.digest("SHA-256", enc.encode(a)),
    crypto.subtle.digest("SHA-256", enc.encode(b)),
  ]);
  const x = new Uint8Array(da);
  const y = new Uint8Array(db);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i]! ^ y[i]!;
  return diff === 0;
}
