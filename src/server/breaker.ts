/**
 * Per-target circuit breaker: after `failures` consecutive dial failures a
 * target fails fast for `cooldownMs`, then one trial dial decides whether it
 * closes again. One broken target never affects others.
 */

export interface BreakerOptions {
  failures: number;
  cooldownMs: number;
  now?: () => number;
  /** Most targets remembered (oldest forgotten first). */
  maxEntries?: number;
}

interface Entry {
  failures: number;
  openUntil: number;
  trial: boolean;
}

export type BreakerDecision = { allowed: true; trial: boolean } | {
  allowed: false;
  retryInMs: number;
};

export class CircuitBreaker {
  readonly #o: Required<BreakerOptions>;
  readonly #entries = new Map<string, Entry>();

  constructor(options: BreakerOptions) {
    this.#o = { now: Date.now, maxEntries: 10_000, ...options };
  }

  /** May we dial `key` now? */
  check(key: string): BreakerDecision {
    const e = this.#entries.get(key);
    if (!e || e.failures < this.#o.failures) return { allowed: true, trial: false };
    const now = this.#o.now();
    if (now < e.openUntil || e.trial) {
      return { allowed: false, retryInMs: Math.max(0, e.openUntil - now) };
    }
    e.trial = true; // half-open: exactly one trial
    return { allowed: true, trial: true };
  }

  success(key: string): void {
    this.#entries.delete(key);
  }

  failure(key: string): void {
    let e = this.#entries.get(key);
    if (!e) {
      if (this.#entries.size >= this.#o.maxEntries) {
        this.#entries.delete(this.#entries.keys().next().value!);
      }
      e = { failures: 0, openUntil: 0, trial: false };
      this.#entries.set(key, e);
    }
    e.failures++;
    e.trial = false;
    if (e.failures >= this.#o.failures) e.openUntil = this.#o.now() + this.#o.cooldownMs;
  }

  /** Targets whose breaker is open (for metrics). */
  openCount(): number {
    let n = 0;
    for (const e of this.#entries.values()) if (e.failures >= this.#o.failures) n++;
    return n;
  }
}
