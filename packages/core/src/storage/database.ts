import { createHash } from 'node:crypto';
import pg from 'pg';
import { NODE_NAME } from './notifications.ts';

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
const NUMERIC_OID = 1700;

/**
 * Money in minor units is numeric (`minor_units`, integers of up to 78 digits; sums of it
 * too), and counts and sequences are int8: both come back as bigint, never a lossy
 * number. Rampart stores no fractional numeric, so one that is not an integer fails the
 * query (BigInt refuses it) rather than being rounded.
 */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if ((oid === INT8_OID || oid === NUMERIC_OID) && format !== 'binary') return (value: string) => BigInt(value);
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

/** Distinct statement texts prepared per connection at most; beyond it, statements run unnamed. */
const MAX_PREPARED = 2_000;
const statementNames = new Map<string, string>();
/** Bumped when a migration changed a table under prepared statements: every name changes. */
let generation = 0;

/**
 * Every parameterised statement runs as a named prepared statement: PostgreSQL parses
 * and plans it once per connection instead of on every call (planning was a large
 * share of its work per payment). Names derive from the text, so one text is one
 * statement on every connection.
 */
function prepared(text: string | pg.QueryConfig, values?: unknown[]): pg.QueryConfig | string {
  const config = typeof text === 'string' ? { text, ...(values ? { values } : {}) } : text;
  if (config.name) return generation === 0 ? config : { ...config, name: `${config.name}~${generation}` };
  if (!config.values || config.values.length === 0) return config;
  let name = statementNames.get(config.text);
  if (!name) {
    if (statementNames.size >= MAX_PREPARED) return config;
    name = `r${generation}_${createHash('sha1').update(config.text).digest('base64url').slice(0, 20)}`;
    statementNames.set(config.text, name);
  }
  return { ...config, name };
}

/**
 * A migration run by a newer node (a rolling deploy) can change a table that this
 * node's prepared statements return (`SELECT *`, `RETURNING *`); PostgreSQL then
 * refuses them. The statements are prepared again under new names and the work is
 * retried once: it failed before doing anything.
 */
function isStalePlan(error: unknown): boolean {
  return (
    (error as { code?: string }).code === '0A000' &&
    /cached plan must not change result type/.test((error as Error).message ?? '')
  );
}

async function withFreshPlans<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (!isStalePlan(error)) throw error;
    generation++;
    statementNames.clear();
    return run();
  }
}

/** A transaction's client, preparing statements like the pool does. */
function preparing(client: pg.PoolClient): Queryable {
  return {
    query: <R extends pg.QueryResultRow>(text: string | pg.QueryConfig, values?: unknown[]) =>
      client.query<R>(prepared(text, values) as pg.QueryConfig),
  };
}

/** How a purge job spreads its work: rows per statement, statements per run at most. */
export interface PurgeBatches {
  batch?: number;
  maxBatches?: number;
}

/**
 * Runs `purgeOne` (one statement, at most `batch` rows, taken with SKIP LOCKED so nodes
 * purging at once take disjoint batches) until a batch comes back short, at most
 * `maxBatches` times per call: a first purge of a long history is spread over a job's
 * runs. Returns how many rows went.
 */
export async function purgeInBatches(
  { batch = 1000, maxBatches = 50 }: PurgeBatches,
  purgeOne: (batch: number) => Promise<{ rowCount: number | null }>,
): Promise<number> {
  let purged = 0;
  for (let round = 0; round < maxBatches; round++) {
    const { rowCount } = await purgeOne(batch);
    purged += rowCount ?? 0;
    if ((rowCount ?? 0) < batch) break;
  }
  return purged;
}

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
      // The release a node speaks: see `NODE_NAME`.
      application_name: options.applicationName ?? NODE_NAME,
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
    return withFreshPlans(() => this.pool.query<R>(prepared(text, values) as pg.QueryConfig));
  }

  /** Runs `work` in one transaction; rolls back on any throw. */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    return withFreshPlans(() => this.attempt(work));
  }

  private async attempt<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
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
      const result = await work(preparing(client));
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
