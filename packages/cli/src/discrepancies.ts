import {
  createIdGenerator,
  Discrepancies,
  type DiscrepancyState,
  EventLog,
  presentDiscrepancy,
  systemClock,
} from '@rampart/core';
import { RampartError } from '@rampart/errors';
import { loadConfig } from '@rampart/server';
import { type Command, Option } from 'commander';
import { modeOption, type OperatorOptions, operatorOption, tenantOf, withDatabase } from './database.ts';
import { emit } from './output.ts';

/** The same service the API uses, on the CLI's database. */
function withDiscrepancies<T>(
  operator: OperatorOptions,
  work: (discrepancies: Discrepancies, operatorId: string) => Promise<T>,
): Promise<T> {
  return withDatabase(loadConfig(), async (db) => {
    const ids = createIdGenerator();
    const events = new EventLog(db, ids, systemClock);
    return work(new Discrepancies({ db, ids, clock: systemClock, events }), await tenantOf(db, operator));
  });
}

type Shown = ReturnType<typeof presentDiscrepancy>;
const line = (d: Shown) =>
  `${d.id}\t${d.status}\t${d.payment_id}\t${d.provider} reports ${d.reported_status}, Rampart has ${d.recorded_status}\t${d.detected_at}` +
  (d.resolution ? `\t${d.resolution}` : '');

/** `rampart discrepancies …`: the queue of payments a provider contradicted, and their resolution. */
export function discrepanciesCommand(program: Command): void {
  const discrepancies = program
    .command('discrepancies')
    .description('payments whose provider contradicted how they ended, to look at and resolve');

  discrepancies
    .command('list')
    .description('newest first')
    .addOption(operatorOption())
    .addOption(modeOption())
    .addOption(new Option('--status <status>').choices(['open', 'resolved']))
    .option('--payment <id>', "one payment's discrepancies")
    .option('--after <id>', 'the last id of the previous page')
    .option('--json', 'print JSON')
    .action(
      async (
        options: OperatorOptions & {
          status?: DiscrepancyState;
          payment?: string;
          after?: string;
          json?: boolean;
        },
      ) => {
        await withDiscrepancies(options, async (service, operatorId) => {
          const list = (
            await service.list(operatorId, {
              limit: 100,
              ...(options.status ? { state: options.status } : {}),
              ...(options.payment ? { paymentId: options.payment } : {}),
              ...(options.after ? { before: options.after } : {}),
            })
          ).map(presentDiscrepancy);
          emit(options.json, list, list.map(line).join('\n') || '(none)');
        });
      },
    );

  discrepancies
    .command('resolve')
    .description('record what was done about a discrepancy (moves no money; adjust balances first if needed)')
    .addOption(operatorOption())
    .addOption(modeOption())
    .requiredOption('--discrepancy <id>')
    .requiredOption('--resolution <text>', 'what was done, in your words')
    .option('--json', 'print JSON')
    .action(async (options: OperatorOptions & { discrepancy: string; resolution: string; json?: boolean }) => {
      await withDiscrepancies(options, async (service, operatorId) => {
        const resolution = options.resolution.trim();
        if (resolution.length === 0 || resolution.length > 500)
          throw new RampartError('invalid_value', {
            field: 'resolution',
            provided: options.resolution,
            expected: '1 to 500 characters saying what was done',
          });
        const resolved = presentDiscrepancy(await service.resolve(operatorId, options.discrepancy, resolution));
        emit(options.json, resolved, line(resolved));
      });
    });
}
