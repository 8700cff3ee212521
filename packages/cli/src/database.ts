import { Database, migrate } from '@rampart/core';
import { type Config, runningClusterUrl, startEmbeddedPostgres } from '@rampart/server';

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
