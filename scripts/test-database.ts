/**
 * The per-file database of `npm test` (see test.ts): a clone of the migrated template,
 * dropped when the test file ends. Every package's tests use this one function.
 */
import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
import { Database } from '@rampart/core';
import pg from 'pg';

const adminUrl = process.env['RAMPART_TEST_DATABASE_URL'];
const template = process.env['RAMPART_TEST_TEMPLATE'];

export function databaseUrl(database: string): string {
  if (!adminUrl) throw new Error('run tests with `npm test`: it provides the database');
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

export async function createTestDatabase(
  /** `empty`: no migration applied (for upgrade tests), instead of the migrated template. */
  options: { maxConnections?: number; empty?: boolean } = {},
): Promise<{ db: Database; url: string; name: string }> {
  if (!adminUrl || !template) throw new Error('run tests with `npm test`: it provides the database');
  const name = `rampart_t_${process.env['RAMPART_TEST_RUN']}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  for (let attempt = 0; ; attempt++) {
    try {
      await admin.query(`CREATE DATABASE ${name} TEMPLATE ${options.empty ? 'template0' : template}`);
      break;
    } catch (error) {
      // Cloning fails while another session is connected to the template; retry briefly.
      if (attempt >= 50) throw error;
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
    }
  }
  await admin.end();
  const url = databaseUrl(name);
  const db = new Database({
    connectionString: url,
    ...(options.maxConnections ? { maxConnections: options.maxConnections } : {}),
  });
  after(async () => {
    await db.close();
    const cleanup = new pg.Client({ connectionString: adminUrl });
    await cleanup.connect();
    await cleanup.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await cleanup.end();
  });
  return { db, url, name };
}
