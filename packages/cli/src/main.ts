import { createIdGenerator, type KeyMode, type KeyScope, Operators, systemClock } from '@rampart/core';
import { isRampartError } from '@rampart/errors';
import { ConfigError, loadConfig, runServer } from '@rampart/server';
import { Command, Option } from 'commander';
import { modeOption, type OperatorOptions, operatorOption, tenantOf, withDatabase } from './database.ts';
import { discrepanciesCommand } from './discrepancies.ts';
import { ledgerCommand } from './ledger.ts';
import { outboxCommand } from './outbox.ts';
import { collect, emit } from './output.ts';
import { providerEventsCommand } from './provider-events.ts';
import { webhooksCommand } from './webhooks.ts';

function operatorsCommand(program: Command): void {
  const config = () => loadConfig();
  const operators = program.command('operators').description('create and manage operators');

  operators
    .command('create')
    .description('create an operator and its first secret key (printed once)')
    .requiredOption('--name <name>', 'display name')
    .addOption(new Option('--mode <mode>', 'mode of the first key').choices(['test', 'live']).default('test'))
    .option('--ip <cidr>', 'allow calls from this IP or CIDR (repeatable)', collect)
    .option('--origin <origin>', 'allow this browser origin (repeatable)', collect)
    .option('--json', 'print JSON')
    .action(async (options: { name: string; mode: KeyMode; ip?: string[]; origin?: string[]; json?: boolean }) => {
      await withDatabase(config(), async (db) => {
        const created = await new Operators(db, createIdGenerator(), systemClock).create({
          name: options.name,
          mode: options.mode,
          ip_allowlist: options.ip ?? [],
          origin_allowlist: options.origin ?? [],
        });
        emit(
          options.json ?? false,
          { operator: created.operator, key: created.key.key, secret: created.key.secret },
          `operator ${created.operator.id} (${created.operator.name})\nsecret key ${created.key.secret}\n(shown once)`,
        );
      });
    });

  operators
    .command('list')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      await withDatabase(config(), async (db) => {
        const list = await new Operators(db, createIdGenerator(), systemClock).list();
        emit(options.json ?? false, list, list.map((o) => `${o.id}\t${o.name}`).join('\n') || '(none)');
      });
    });

  operators
    .command('allowlist')
    .description("replace the IP and/or Origin allowlist of one of an operator's modes")
    .addOption(operatorOption())
    .addOption(modeOption())
    .option('--ip <cidr>', 'IP or CIDR (repeatable)', collect)
    .option('--origin <origin>', 'origin (repeatable)', collect)
    .option('--clear-ip', 'allow any IP')
    .option('--clear-origin', 'allow no browser origin')
    .option('--json', 'print JSON')
    .action(
      async (
        options: OperatorOptions & {
          ip?: string[];
          origin?: string[];
          clearIp?: boolean;
          clearOrigin?: boolean;
          json?: boolean;
        },
      ) => {
        await withDatabase(config(), async (db) => {
          const operators = new Operators(db, createIdGenerator(), systemClock);
          const updated = await operators.updateAllowlists(await tenantOf(db, options), {
            ...(options.ip || options.clearIp ? { ip_allowlist: options.ip ?? [] } : {}),
            ...(options.origin || options.clearOrigin ? { origin_allowlist: options.origin ?? [] } : {}),
          });
          emit(
            options.json ?? false,
            updated,
            `ip: ${updated.ip_allowlist.join(', ') || 'any'}\norigin: ${updated.origin_allowlist.join(', ') || 'none'}`,
          );
        });
      },
    );
}

function keysCommand(program: Command): void {
  const config = () => loadConfig();
  const keys = program.command('keys').description('secret keys of an operator');
  const operatorsFor = (db: Parameters<Parameters<typeof withDatabase>[1]>[0]) =>
    new Operators(db, createIdGenerator(), systemClock);

  keys
    .command('create')
    .requiredOption('--operator <id>')
    .addOption(new Option('--mode <mode>').choices(['test', 'live']).default('test'))
    .addOption(new Option('--scope <scope>').choices(['full', 'read_only']).default('full'))
    .option('--description <text>')
    .option('--json', 'print JSON')
    .action(async (options: OperatorOptions & { scope: KeyScope; description?: string; json?: boolean }) => {
      await withDatabase(config(), async (db) => {
        const ops = operatorsFor(db);
        await ops.get(options.operator);
        const issued = await ops.keys.issue(options.operator, {
          mode: options.mode,
          scope: options.scope,
          description: options.description ?? null,
        });
        emit(options.json ?? false, issued, `key ${issued.key.id}\nsecret ${issued.secret}\n(shown once)`);
      });
    });

  keys
    .command('list')
    .requiredOption('--operator <id>')
    .option('--json', 'print JSON')
    .action(async (options: { operator: string; json?: boolean }) => {
      await withDatabase(config(), async (db) => {
        const list = await operatorsFor(db).keys.list(options.operator);
        const line = (k: (typeof list)[number]) =>
          `${k.id}\t${k.mode}\t${k.scope}\t…${k.last4}\t${k.revoked_at ? 'revoked' : k.expires_at ? `expires ${k.expires_at.toISOString()}` : 'active'}`;
        emit(options.json ?? false, list, list.map(line).join('\n') || '(none)');
      });
    });

  keys
    .command('rotate')
    .requiredOption('--operator <id>')
    .requiredOption('--key <id>')
    .option('--overlap <seconds>', 'how long the old key keeps working')
    .option('--json', 'print JSON')
    .action(async (options: { operator: string; key: string; overlap?: string; json?: boolean }) => {
      const cfg = config();
      const overlap = options.overlap === undefined ? cfg.keyRotationOverlapSeconds : Number(options.overlap);
      if (!Number.isInteger(overlap) || overlap < 0) throw new ConfigError('--overlap', 'expected whole seconds');
      await withDatabase(cfg, async (db) => {
        const rotated = await operatorsFor(db).keys.rotate(options.operator, options.key, overlap);
        emit(
          options.json ?? false,
          rotated,
          `new key ${rotated.key.id}\nsecret ${rotated.secret}\nold key ${rotated.previous.id} works until ${rotated.previous.expires_at?.toISOString()}`,
        );
      });
    });

  keys
    .command('revoke')
    .requiredOption('--operator <id>')
    .requiredOption('--key <id>')
    .option('--json', 'print JSON')
    .action(async (options: { operator: string; key: string; json?: boolean }) => {
      await withDatabase(config(), async (db) => {
        const revoked = await operatorsFor(db).keys.revoke(options.operator, options.key);
        emit(options.json ?? false, revoked, `revoked ${revoked.id}`);
      });
    });
}

export function buildProgram(): Command {
  const program = new Command('rampart').description('Rampart payments cashier').showHelpAfterError();
  program
    .command('start')
    .description('run the API (embedded PostgreSQL unless DATABASE_URL is set)')
    .action(runServer);
  operatorsCommand(program);
  keysCommand(program);
  webhooksCommand(program);
  outboxCommand(program);
  discrepanciesCommand(program);
  ledgerCommand(program);
  providerEventsCommand(program);
  return program;
}

if (import.meta.main) {
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (error) {
    if (isRampartError(error)) console.error(`rampart: ${error.code}: ${error.message}`);
    else if (error instanceof ConfigError) console.error(`rampart: invalid configuration: ${error.message}`);
    else console.error('rampart:', error);
    process.exitCode = 1;
  }
}
