/**
 * Paces garbage collection on a link by the bytes it moves, when the runtime
 * exposes `gc` (RUNTIME_FLAGS in src/runtime_flags.ts); a no-op otherwise.
 */

type Gc = (options?: { type?: "minor" | "major"; execution?: "sync" | "async" }) => void;

export interface GcPacer {
  /** Count `n` bytes moved either way. */
  moved(n: number): void;
  stop(): void;
}

/**
 * - `minorEveryBytes`: a young-generation collection after that many bytes
 *   (see src/tunnel/socket_transport.ts for why `node:tls` needs it).
 * - Always: when traffic stops after a burst, one full collection gives the
 *   memory of that burst back instead of holding it until the next one.
 */
export function gcPacer(minorEveryBytes = Infinity, idleCheckMs = 500): GcPacer {
  const gc = (globalThis as { gc?: Gc }).gc;
  if (!gc) return { moved() {}, stop() {} };
  let sinceMinor = 0;
  let moved = 0; // since the last full collection
  let movedAtTick = 0;
  const idleCheck = setInterval(() => {
    if (moved > 0 && moved === movedAtTick) {
      moved = 0;
      gc({ type: "major" });
    }
    movedAtTick = moved;
  }, idleCheckMs);
  Deno.unrefTimer(idleCheck as unknown as number);
  return {
    moved(n) {
      moved += n;
      if ((sinceMinor += n) < minorEveryBytes) return;
      sinceMinor = 0;
      gc({ type: "minor" });
    },
    stop() {
      clearInterval(idleCheck);
    },
  };
}
