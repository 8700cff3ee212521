import { createIdGenerator, Ledger, systemClock } from '@rampart/core';
import { loadConfig, presentPosition } from '@rampart/server';
import type { Command } from 'commander';
import { modeOption, type OperatorOptions, operatorOption, tenantOf, withDatabase } from './database.ts';
import { emit } from './output.ts';

type Shown = ReturnType<typeof presentPosition>;
const line = (p: Shown) =>
  [p.currency + (p.network ? `/${p.network}` : ''), p.kind + (p.provider ? ` ${p.provider}` : ''), p.posted, p.held]
    .concat(p.accounts > 1 ? [`${p.accounts} accounts`] : [])
    .join('\t');

/** `rampart ledger …`: the operator's ledger as `GET /v1/ledger/balances` shows it. */
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
}
