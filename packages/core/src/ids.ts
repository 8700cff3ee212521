import { randomFillSync } from 'node:crypto';
import { encodeTime, monotonicFactory } from 'ulid';

/** Prefixed, time-sortable identifiers: `op_01JD…`, `key_01JD…`. */
export type IdGenerator = (prefix: string) => string;

/**
 * Cryptographic randomness drawn from a pooled buffer: ulid asks for one byte per
 * character, and a system call per byte was a visible cost on every request.
 */
function pooledRandom(size = 4096): () => number {
  const pool = Buffer.alloc(size);
  let offset = size;
  return () => {
    if (offset === size) {
      randomFillSync(pool);
      offset = 0;
    }
    // A byte scaled into [0, 1), as ulid expects (it multiplies by 32 and floors).
    return pool[offset++]! / 256;
  };
}

export function createIdGenerator(): IdGenerator {
  const next = monotonicFactory(pooledRandom());
  return (prefix) => `${prefix}_${next().toLowerCase()}`;
}

/**
 * The smallest id with `prefix` made at or after `at`: every id made before `at` sorts
 * below it, so a primary-key range finds the rows older than a time without an index of
 * their own.
 */
export function idsMadeFrom(prefix: string, at: Date): string {
  return `${prefix}_${encodeTime(at.getTime(), 10).toLowerCase()}`;
}
