import { RampartError } from '@rampart/errors';

/** The domain never reads the wall clock itself, so tests can move time. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/**
 * A `date-time` an API was given, as a Date. What JSON Schema's format takes and a Date
 * cannot hold (a leap second, an offset of hours alone) is `invalid_value` on `field`.
 */
export function dateTimeOf(field: string, value: string): Date {
  const date = new Date(value);
  if (Number.isNaN(date.getTime()))
    throw new RampartError('invalid_value', {
      field,
      provided: value,
      expected: 'a date-time such as 2026-01-01T00:00:00Z',
    });
  return date;
}
