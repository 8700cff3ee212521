import pg from 'pg';

/** A query runner: the pool itself, or a client inside a transaction. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string | pg.QueryConfig,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>>;
}

/** What the domain is given: queries, and a way to run several in one transaction. */
export interface Store extends Queryable {
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
}

const INT8_OID = 20;

/** int8 columns hold money in minor units; they come back as bigint, never a lossy number. */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID && format !== 'binary') return (value: string) => BigInt(value);
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

export interface DatabaseOptions {
  connectionString: string;
  maxConnections?: number;
  applicationName?: string;
}

export class Database implements Store {
  readonly pool: pg.Pool;
  /** For the few things that need a connection of their own (LISTEN). */
  readonly connectionString: string;

  constructor(options: DatabaseOptions) {
    this.connectionString = options.connectionString;
    this.pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.maxConnections ?? 10,
      application_name: options.applicationName ?? 'rampart',
      types,
      // A database that does not answer is an outage, not a slow request.
      connectionTimeoutMillis: 5_000,
    });
    // An idle client losing its connection must not crash the process; the next
    // checkout gets a fresh one.
    this.pool.on('error', () => {});
  }

  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string | pg.QueryConfig,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    return this.pool.query<R>(text, values);
  }

  /** Runs `work` in one transaction; rolls back on any throw. */
  async transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    // A connection lost while checked out (server restart, terminated backend) emits
    // 'error' between queries; the failing query below reports it, so it must not
    // also crash the process as an unhandled event.
    let broken: Error | undefined;
    const onError = (error: Error) => {
      broken = error;
    };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: Error) => {
        broken ??= rollbackError;
      });
      throw error;
    } finally {
      client.off('error', onError);
      // A broken connection is destroyed, never handed to the next caller.
      client.release(broken ?? false);
    }
  }

  async ping(): Promise<boolean> {
    try {
      await this.pool.query('SELECT 1');
      return true;
    } catch {
      return false;
    }
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}
