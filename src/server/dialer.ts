/**
 * Resolves and dials a stream's target, enforcing the destination policy on
 * every resolved address and mapping failures to reset codes the agent turns
 * into HTTP errors.
 */
import { lookup as dnsLookup } from "node:dns/promises";
import { isIP } from "node:net";
import { ResetCode } from "../tunnel/frames.ts";
import { checkAddress, checkTarget, type PolicyOptions } from "./policy.ts";

/** A dial that failed, with the reset code to send. */
export class DialError extends Error {
  override name = "DialError";
  readonly code: ResetCode;
  constructor(code: ResetCode, message: string) {
    super(message);
    this.code = code;
  }
}

export type Lookup = (host: string) => Promise<string[]>;
export type Connect = (ip: string, port: number) => Promise<Deno.TcpConn>;

export interface DialerOptions {
  policy: PolicyOptions;
  timeoutMs: number;
  lookup?: Lookup;
  connect?: Connect;
}

export const systemLookup: Lookup = async (host) => {
  const all = await dnsLookup(host, { all: true, verbatim: true });
  return all.map((a) => a.address);
};

const systemConnect: Connect = (ip, port) => Deno.connect({ hostname: ip, port, transport: "tcp" });

/** Splits `host:port` / `[v6]:port`; throws DialError(FORBIDDEN) on junk. */
export function splitTarget(target: string): { host: string; port: number } {
  const m = /^\[([0-9a-fA-F:.%a-zA-Z]+)\]:(\d{1,5})$/.exec(target) ??
    /^([A-Za-z0-9._-]{1,253}):(\d{1,5})$/.exec(target);
  if (!m) throw new DialError(ResetCode.FORBIDDEN, `invalid target ${JSON.stringify(target)}`);
  return { host: m[1]!, port: Number(m[2]) };
}

function mapError(e: unknown, target: string): DialError {
  if (e instanceof DialError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  if (e instanceof Deno.errors.ConnectionRefused) {
    return new DialError(ResetCode.REFUSED, `${target}: connection refused`);
  }
  if (e instanceof Deno.errors.ConnectionReset) {
    return new DialError(ResetCode.CONN_RESET, `${target}: connection reset`);
  }
  if (e instanceof Deno.errors.TimedOut) {
    return new DialError(ResetCode.TIMEOUT, `${target}: timed out`);
  }
  return new DialError(ResetCode.UNREACHABLE, `${target}: ${msg}`);
}

export type Dialer = (host: string, port: number) => Promise<Deno.TcpConn>;

export function createDialer(options: DialerOptions): Dialer {
  const lookup = options.lookup ?? systemLookup;
  const connect = options.connect ?? systemConnect;

  return async (host, port) => {
    const target = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
    const refused = checkTarget(host, port, options.policy);
    if (refused) {
      throw new DialError(ResetCode.FORBIDDEN, `${target}: refused by policy: ${refused}`);
    }
    const deadline = Date.now() + options.timeoutMs;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new DialError(
              ResetCode.TIMEOUT,
              `${target}: no answer within ${options.timeoutMs / 1000}s`,
            ),
          ),
        options.timeoutMs,
      );
    });
    try {
      let addrs: string[];
      if (isIP(host)) addrs = [host];
      else {
        try {
          addrs = await Promise.race([lookup(host), timeout]);
        } catch (e) {
          if (e instanceof DialError) throw e;
          throw new DialError(
            ResetCode.DNS,
            `${target}: cannot resolve ${host}: ${(e as Error).message}`,
          );
        }
        if (addrs.length === 0) {
          throw new DialError(ResetCode.DNS, `${target}: ${host} has no addresses`);
        }
      }
      const allowed = addrs.filter((a) => checkAddress(a, options.policy) === null);
      if (allowed.length === 0) {
        const why = checkAddress(addrs[0]!, options.policy)!;
        throw new DialError(ResetCode.FORBIDDEN, `${target}: refused by policy: ${why}`);
      }
      let last: unknown;
      for (const ip of allowed) {
        if (Date.now() >= deadline) break;
        const attempt = connect(ip, port);
        try {
          const conn = await Promise.race([attempt, timeout]);
          conn.setNoDelay(true);
          return conn;
        } catch (e) {
          // A connect that completes after the timeout must not leak.
          attempt.then((c) => c.close(), () => {});
          last = e;
          if (e instanceof DialError) throw e;
        }
      }
      throw mapError(last ?? new Error("no address could be dialed"), target);
    } catch (e) {
      throw mapError(e, target);
    } finally {
      clearTimeout(timer);
    }
  };
}
