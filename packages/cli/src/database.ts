import { createIdGenerator, Database, type KeyMode, migrate, Operators, systemClock } from '@rampart/core';
import { type Config, runningClusterUrl, startEmbeddedPostgres } from '@rampart/server';
import { Option } from 'commander';

/**
 * The CLI works on the same database as the server: DATABASE_URL when set; else the
 * embedded cluster of a running Rampart (found through its lock); else it starts the
 * embedded cluster itself for the duration of the command.
 */
export async function withDatabase<T>(config: Config, work: (db: Database) => Promise<T>): Promise<T> {
  const url = config.databaseUrl ?? runningClusterUrl(config.dataDir);
  const cluster = url ? undefined : await startEmbeddedPostgres({ dataDir: config.dataDir });
  const db = new Database({ connectionString: url ?? cluster!.url, maxConnections: 2, applicationName: 'rampart-cli' });
  try {
    await migrate(db);
    return await work(db);
  } finally {
    await db.close();
    await cluster?.stop();
  }
}

/** What a command that works on one operator is told: the operator, and which of its two modes. */
export interface OperatorOptions {
  operator: string;
  mode: KeyMode;
}

/** `--operator <id>`: the operator a command works on, by its id. */
export const operatorOption = () => new Option('--operator <id>', 'the operator, by its id').makeOptionMandatory();

/**
 * `--mode <test|live>`: which of the operator's two modes. Always said: a command meant
 * for test mode must not change live by default (nor the reverse).
 */
export const modeOption = () =>
  new Option('--mode <mode>', 'which of its modes').choices(['test', 'live']).makeOptionMandatory();

/** The id of the tenant `options` names: the operator's live or test one. */
export async function tenantOf(db: Database, options: OperatorOptions): Promise<string> {
  return (await new Operators(db, createIdGenerator(), systemClock).tenant(options.operator, options.mode)).id;
}
