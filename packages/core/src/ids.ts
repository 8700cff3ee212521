import { monotonicFactory } from 'ulid';

/** Prefixed, time-sortable identifiers: `op_01JD…`, `key_01JD…`. */
export type IdGenerator = (prefix: string) => string;

export function createIdGenerator(): IdGenerator {
  const next = monotonicFactory();
  return (prefix) => `${prefix}_${next().toLowerCase()}`;
}
