import { createIdGenerator, DevOutbox, systemClock } from '@rampart/core';
import { loadConfig } from '@rampart/server';
import type { Command } from 'commander';
import { withDatabase } from './database.ts';

/** `rampart outbox`: the mail and SMS the development transport kept instead of sending. */
export function outboxCommand(program: Command): void {
  program
    .command('outbox')
    .description('show mail and SMS that development mode kept instead of sending (newest first)')
    .option('--to <address>', 'only messages to this email address or phone number')
    .option('--limit <n>', 'how many', '20')
    .option('--json', 'print JSON')
    .action(async (options: { to?: string; limit: string; json?: boolean }) => {
      await withDatabase(loadConfig(), async (db) => {
        const messages = await new DevOutbox(db, createIdGenerator(), systemClock).list({
          ...(options.to ? { to: options.to } : {}),
          limit: Number(options.limit) || 20,
        });
        if (options.json) {
          console.log(JSON.stringify(messages, null, 2));
          return;
        }
        if (messages.length === 0) console.log('(no messages)');
        for (const m of messages) {
          console.log(
            `${m.created_at.toISOString()}  ${m.channel}  ${m.destination}${m.subject ? `  ${m.subject}` : ''}`,
          );
          console.log(`  ${m.body.replaceAll('\n', '\n  ')}`);
        }
      });
    });
}
