/**
 * What every deploy step receives: the AWS clients, an output sink, and a
 * clock and sleep that tests replace (stack waits then take no real time).
 */
import type { DeployClients } from "./clients.ts";
import { abortableSleep } from "../sleep.ts";

export interface DeployRunOptions {
  clients: DeployClients;
  /** One line of progress (stdout). Never given secrets. */
  out: (line: string) => void;
  /** Epoch ms. Default `Date.now`. */
  now?: () => number;
  /** Default: a real timer that rejects when `signal` aborts. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Aborts stack waits (Ctrl-C): the operation continues in AWS, the command stops watching. */
  signal?: AbortSignal;
  /** Delay between DescribeStacks polls. Default 5000 ms. */
  pollIntervalMs?: number;
  /** Directory with `fargate.yaml` and `lambda.yaml`. Default: `infra/` of this checkout. */
  templatesDir?: string | URL;
}

/** {@linkcode DeployRunOptions} with the defaults filled in. */
export interface DeployRun {
  clients: DeployClients;
  out: (line: string) => void;
  now: () => number;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  signal?: AbortSignal;
  pollIntervalMs: number;
  templatesDir: string | URL;
  /** Wait limit of one stack operation, from the config. */
  waitTimeoutMs: number;
}

export function deployRun(opts: DeployRunOptions, waitTimeoutMs: number): DeployRun {
  return {
    clients: opts.clients,
    out: opts.out,
    now: opts.now ?? Date.now,
    sleep: opts.sleep ?? abortableSleep,
    signal: opts.signal,
    pollIntervalMs: opts.pollIntervalMs ?? 5000,
    templatesDir: opts.templatesDir ?? new URL("../../infra/", import.meta.url),
    waitTimeoutMs,
  };
}

/** `7s`, `1m05s`, `1h02m`: elapsed time in progress lines. */
export function formatElapsed(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, "0")}m`;
}

/** `[   42s]`: a fixed-width elapsed column. */
export function elapsedTag(ms: number): string {
  return `[${formatElapsed(ms).padStart(6)}]`;
}

/** Name, HTTP status and message of an AWS SDK error (or anything thrown). */
export function awsError(e: unknown): { name: string; status?: number; message: string } {
  const err = e as {
    name?: string;
    Code?: string;
    message?: string;
    $metadata?: { httpStatusCode?: number };
  };
  return {
    name: err?.name ?? err?.Code ?? "Error",
    status: err?.$metadata?.httpStatusCode,
    message: err?.message ?? String(e),
  };
}

/** `Name: message` of an AWS error, for messages. */
export function awsErrorText(e: unknown): string {
  const { name, message } = awsError(e);
  return message && message !== name ? `${name}: ${message}` : name;
}
