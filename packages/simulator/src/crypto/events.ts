import type { ProviderContext } from '../context.ts';

/** Ramp events: `{ event_id, event: "<object>.<status>", timestamp (ms), data }`. */
export function publishRampEvent(
  context: ProviderContext,
  event: string,
  at: number,
  subject: string,
  data: unknown,
): void {
  const id = context.newId('cev');
  context.publish('crypto', { id, subject, type: event, payload: { event_id: id, event, timestamp: at, data } });
}
