import { monotonicFactory } from 'ulid';

/** Prefixed, time-sortable identifiers, e.g. `bpay_01jd…`. */
export type IdGenerator = (prefix: string) => string;

export function createIdGenerator(): IdGenerator {
  const next = monotonicFactory();
  return (prefix) => `${prefix}_${next().toLowerCase()}`;
}
