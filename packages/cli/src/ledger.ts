import {
  createIdGenerator,
  EndUsers,
  EventLog,
  Ledger,
  OperatorSettingsStore,
  systemClock,
  UserBalances,
} from '@rampart/core';
import { loadConfig, presentBalanceTransaction, presentPosition } from '@rampart/server';
import type { Command } from 'commander';
import { modeOption, type OperatorOptions, operatorOption, tenantOf, withDatabase } from './database.ts';
import { emit } from './output.ts';

type Shown = ReturnType<typeof presentPosition>;
const line = (p: Shown) =>
  [p.currency + (p.network ? `/${p.network}` : ''), p.kind + (p.provider ? ` ${p.provider}` : ''), p.posted, p.held]
    .concat(p.accounts > 1 ? [`${p.accounts} accounts`] : [])
    .join('\t');

type Movement = ReturnType<typeof presentBalanceTransaction>;
const movement = (m: Movement) =>
  [m.created_at, m.currency + (m.network ? `/${m.network}` : ''), m.amount, `= ${m.balance_after}`, m.type]
    .concat(m.payment_id ?? m.reference ?? [])
    .join('\t');

/** `rampart ledger …`: the operator's ledger as `GET /v1/ledger/balances` shows it, and a user's statement. */
export function ledgerCommand(program: Command): void {
  const ledger = program.command('ledger').description("an operator's double-entry ledger");
  ledger
    .command('balances')
    .description('per currency: users in all, provider clearing, fees earned, settlement (posted, held)')
    .addOption(operatorOption())
    .addOption(modeOption())
    .option('--json', 'print JSON')
    .action(async (options: OperatorOptions & { json?: boolean }) => {
      await withDatabase(loadConfig(), async (db) => {
        const operatorId = await tenantOf(db, options);
        const positions = (
          await new Ledger(db, createIdGenerator(), systemClock).positions(operatorId, options.mode)
        ).map(presentPosition);
        emit(options.json, positions, positions.map(line).join('\n') || '(no accounts yet)');
      });
    });

  ledger
    .command('statement')
    .description("a user's statement: each movement of their balance, newest first, with the balance it left")
    .addOption(operatorOption())
    .addOption(modeOption())
    .requiredOption('--user <id>', "the operator's own user id")
    .option('--currency <code>', 'one currency only')
    .option('--after <id>', 'the last id of the previous page')
    .option('--json', 'print JSON')
    .action(async (options: OperatorOptions & { user: string; currency?: string; after?: string; json?: boolean }) => {
      await withDatabase(loadConfig(), async (db) => {
        const operatorId = await tenantOf(db, options);
        const ids = createIdGenerator();
        const events = new EventLog(db, ids, systemClock);
        const balances = new UserBalances({
          db,
          ledger: new Ledger(db, ids, systemClock),
          users: new EndUsers(db, systemClock, events),
          settings: new OperatorSettingsStore(db),
          events,
        });
        const movements = (
          await balances.statement(operatorId, options.user, options.mode, {
            ...(options.currency ? { currency: options.currency } : {}),
            ...(options.after ? { before: options.after } : {}),
            limit: 100,
          })
        ).map(presentBalanceTransaction);
        emit(options.json, movements, movements.map(movement).join('\n') || '(no movements)');
      });
    });
}
