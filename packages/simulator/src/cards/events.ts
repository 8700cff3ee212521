import { unixAt } from '../clock.ts';
import type { ProviderContext } from '../context.ts';

/** Card/ACH events: `{ id, object: "event", type: "<object>.<status>", created, data: { object } }`. */
export function publishCardsEvent(context: ProviderContext, type: string, at: number, object: { id: string }): void {
  const id = context.newId('evt');
  context.publish('cards', {
    id,
    subject: object.id,
    type,
    payload: { id, object: 'event', type, created: unixAt(at), data: { object } },
  });
}
