/** Settings shared by the agent and the server. */
import type { Field } from "./schema.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

export const LOG_FIELDS: readonly Field[] = [
  {
    key: "log.level",
    kind: "enum",
    values: ["debug", "info", "warn", "error"],
    default: "info",
    flag: "log-level",
    help: "lowest level logged",
  },
  {
    key: "log.format",
    kind: "enum",
    values: ["text", "json"],
    default: "text",
    flag: "log-format",
    help: "log line format",
  },
];

/** Tunnel link tuning: the same on both ends of a link. */
export function linkFields(): Field[] {
  return [
    {
      key: "link.stream_window",
      kind: "size",
      default: 2 * MiB,
      min: 64 * KiB,
      max: 64 * MiB,
      help: "per-stream flow-control window at the start (bytes in flight per stream)",
    },
    {
      key: "link.stream_window_max",
      kind: "size",
      default: 16 * MiB,
      min: 64 * KiB,
      max: 64 * MiB,
      help:
        "a stream's window grows up to this when the round trip needs it (at most stream_window: no growth)",
    },
    {
      key: "link.link_window",
      kind: "size",
      default: 4 * MiB,
      min: 256 * KiB,
      max: 1024 * MiB,
      help: "per-link flow-control window at the start (bytes in flight over the whole link)",
    },
    {
      key: "link.link_window_max",
      kind: "size",
      default: 64 * MiB,
      min: 256 * KiB,
      max: 1024 * MiB,
      help:
        "the link window grows up to this when the round trip needs it (at most link_window: no growth)",
    },
    {
      key: "link.max_frame_size",
      kind: "size",
      default: 64 * KiB,
      min: 1 * KiB,
      max: 1 * MiB,
      help: "largest frame payload accepted",
    },
    {
      key: "link.max_streams",
      kind: "int",
      default: 4096,
      min: 1,
      max: 1_000_000,
      help: "most concurrent streams on one link",
    },
    {
      key: "link.keepalive_interval",
      kind: "duration",
      default: 10_000,
      min: 100,
      max: 3_600_000,
      help: "ping the peer after this much silence",
    },
    {
      key: "link.keepalive_timeout",
      kind: "duration",
      default: 20_000,
      min: 100,
      max: 3_600_000,
      help: "declare the link dead when a ping is unanswered this long",
    },
    {
      key: "link.idle_stream_timeout",
      kind: "duration",
      default: 3_600_000,
      min: 0,
      max: 7 * 24 * 3_600_000,
      help: "reset streams with no traffic either way for this long (0 = never)",
    },
  ];
}

export const TLS_HELP = "PEM file path, or the PEM text itself";
