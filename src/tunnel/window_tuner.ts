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
 * back, and it doubles, up to a ceiling. The receiver grants the growth as
 * extra credit; the protocol needs nothing else (credit is additive).
 */
export class WindowTuner {
  #window: number;
  readonly #max: number;
  #since: number;
  #bytes = 0;

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
   * smallest round trip is `minRttMs` (Infinity when unknown). Returns the
   * extra credit to grant: how much the window grew, usually 0.
   */
  credited(n: number, now: number, minRttMs: number): number {
    if (this.#window >= this.#max) return 0;
    this.#bytes += n;
    if (this.#bytes < this.#window) return 0;
    const elapsed = now - this.#since;
    const windowLimited = 2 * minRttMs * (this.#bytes / this.#window);
    this.#since = now;
    this.#bytes = 0;
    if (!Number.isFinite(minRttMs) || elapsed >= windowLimited) return 0;
    const grown = Math.min(this.#max, this.#window * 2);
    const extra = grown - this.#window;
    this.#window = grown;
    return extra;
  }
}
