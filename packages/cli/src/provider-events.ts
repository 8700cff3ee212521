import { retryProviderEvent, unappliedProviderEvents } from '@rampart/core';
import { RampartError } from '@rampart/errors';
import { loadConfig } from '@rampart/server';
import type { Command } from 'commander';
import { withDatabase } from './database.ts';
import { emit } from './output.ts';

/**
 * `rampart provider-events …`: inbound provider webhooks recorded but not applied. Most
 * are applied within a second; one that fails every try (a payment this Rampart does not
 * know, a bug) is set aside after 20 and waits here for a person.
 */
export function providerEventsCommand(program: Command): void {
  const events = program
    .command('provider-events')
    .description('provider webhooks recorded but not applied (set aside after 20 failed tries)');

  events
    .command('list')
    .description('oldest first')
    .option('--set-aside', 'only those no longer retried')
    .option('--json', 'print JSON')
    .action(async (options: { setAside?: boolean; json?: boolean }) => {
      await withDatabase(loadConfig(), async (db) => {
        const list = await unappliedProviderEvents(db, { setAsideOnly: options.setAside ?? false });
        const line = (e: (typeof list)[number]) =>
          `${e.provider}\t${e.event_id}\t${e.set_aside ? 'set aside' : 'retrying'}\ttries ${e.attempts}\t${e.received_at.toISOString()}` +
          (e.last_error ? `\t${e.last_error}` : '');
        emit(options.json, list, list.map(line).join('\n') || '(none)');
      });
    });

  events
    .command('retry')
    .description('put an unapplied event back in line, with a fresh count of tries')
    .requiredOption('--provider <id>')
    .requiredOption('--event <id>')
    .option('--json', 'print JSON')
    .action(async (options: { provider: string; event: string; json?: boolean }) => {
      await withDatabase(loadConfig(), async (db) => {
        if (!(await retryProviderEvent(db, options.provider, options.event)))
          throw new RampartError('resource_not_found', { resource: 'provider_event' });
        emit(
          options.json,
          { provider: options.provider, event_id: options.event, retrying: true },
          `retrying ${options.event}`,
        );
      });
    });
}
