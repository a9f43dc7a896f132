/**
 * Receive-window auto-tuning for one flow-control window (a link's or a
 * stream's).
 *
 * A window caps a flow at window / RTT: 4 MiB is ~80 MB/s at 50 ms, while on
 * a LAN or loopback it is never the limit and only bounds memory. So a
 * window starts small and, each time a whole window's worth has been
 * consumed, the time that took is compared with the path's smallest round
 * trip: a window consumed within two round trips (data arriving at over half
 * the rate the window allows) means the window is what holds the sender
 * back, and it doubles, up to a ceiling. Unless the reader fell behind: when
 * a quarter window or more was waiting unread as credit went back, data was
 * consumed from a backlog, fast because it was already there, and the reader
 * rather than the window is the limit. The receiver grants the growth as
 * extra credit; the protocol needs nothing else (credit is additive).
 *
 * Paths under {@linkcode MIN_TUNED_RTT_MS} are left alone: there the start
 * windows already allow 100 MB/s per stream (2 MiB) and 200 MB/s per link
 * (4 MiB), and a busy machine's round trips (several ms on loopback while
 * other processes hold the CPUs) would otherwise grow windows, and memory,
 * for nothing.
 */
export const MIN_TUNED_RTT_MS = 20;

export class WindowTuner {
  #window: number;
  readonly #max: number;
  #since: number;
  #bytes = 0;
  #behind = false;

  /** `max` at or below `initial` turns tuning off. */
  constructor(initial: number, max: number, now: number) {
    this.#window = initial;
    this.#max = max;
    this.#since = now;
  }

  /** The current window. */
  get window(): number {
    return this.#window;
  }

  /**
   * `n` bytes of credit are being returned at time `now` (ms) on a path whose
   * smallest round trip is `minRttMs` (Infinity when unknown), with `backlog`
   * bytes still received and unread. Returns the extra credit to grant: how
   * much the window grew, usually 0.
   */
  credited(n: number, now: number, minRttMs: number, backlog = 0): number {
    if (this.#window >= this.#max) return 0;
    if (backlog >= this.#window / 4) this.#behind = true;
    this.#bytes += n;
    if (this.#bytes < this.#window) return 0;
    const elapsed = now - this.#since;
    const windowLimited = 2 * minRttMs * (this.#bytes / this.#window);
    const behind = this.#behind;
    this.#since = now;
    this.#bytes = 0;
    this.#behind = false;
    if (behind || !(minRttMs >= MIN_TUNED_RTT_MS) || !Number.isFinite(minRttMs)) return 0;
    if (elapsed >= windowLimited) return 0;
    const grown = Math.min(this.#max, this.#window * 2);
    const extra = grown - this.#window;
    this.#window = grown;
    return extra;
  }
}
