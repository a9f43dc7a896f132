/** Two connected in-memory {@linkcode Transport}s, for tests of the session. */
import type { Transport } from "./session.ts";

export interface MemoryTransport extends Transport {
  /** Feed raw bytes to this side as if they came from the peer. */
  inject(bytes: Uint8Array): void;
  /** Stop delivering to the peer (a stalled network). */
  stall(on: boolean): void;
}

class MemoryEnd implements MemoryTransport {
  peer!: MemoryEnd;
  #dataCbs: Array<(c: Uint8Array) => void> = [];
  #closeCbs: Array<(e?: Error) => void> = [];
  #closed = false;
  #stalled = false;

  write(bytes: Uint8Array): void {
    if (this.#closed || this.#stalled) return;
    const copy = bytes.slice();
    queueMicrotask(() => this.peer.inject(copy));
  }
  inject(bytes: Uint8Array): void {
    if (!this.#closed) { for (const cb of this.#dataCbs) cb(bytes); }
  }
  stall(on: boolean): void {
    this.#stalled = on;
  }
  end(): void {
    this.destroy();
  }
  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    queueMicrotask(() => {
      for (const cb of this.#closeCbs) cb();
      this.peer.destroy();
    });
  }
  onData(cb: (c: Uint8Array) => void): void {
    this.#dataCbs.push(cb);
  }
  onClose(cb: (e?: Error) => void): void {
    this.#closeCbs.push(cb);
  }
}

export function memoryPair(): [MemoryTransport, MemoryTransport] {
  const a = new MemoryEnd();
  const b = new MemoryEnd();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
