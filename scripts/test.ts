/**
 * `npm test`: one PostgreSQL for the whole run, one fresh database per test file.
 *
 * Without DATABASE_URL an embedded cluster is started in a temporary directory;
 * with it, that server is used (CI points it at the machine's own PostgreSQL 15).
 * A template database is migrated once; each test file clones it (CREATE DATABASE …
 * TEMPLATE), so files run in parallel without seeing each other's rows.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Database, migrate } from '@rampart/core';
import { startEmbeddedPostgres } from '@rampart/server';
import pg from 'pg';

const external = process.env['DATABASE_URL'];
const tempDir = external ? undefined : mkdtempSync(join(tmpdir(), 'rampart-test-'));
const cluster = tempDir ? await startEmbeddedPostgres({ dataDir: tempDir }) : undefined;
const baseUrl = external ?? cluster!.url;
const template = `rampart_template_${process.pid}`;

function urlFor(database: string): string {
  const url = new URL(baseUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

const admin = new pg.Client({ connectionString: baseUrl });
await admin.connect();
await admin.query(`DROP DATABASE IF EXISTS ${template}`);
await admin.query(`CREATE DATABASE ${template}`);
const db = new Database({ connectionString: urlFor(template) });
await migrate(db);
await db.close();

const patterns = process.argv.slice(2);
const files = patterns.length > 0 ? patterns : ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'];
const concurrency = Math.max(2, availableParallelism());
console.log(
  `database: ${external ? 'DATABASE_URL' : 'embedded'} (${(await admin.query('SHOW server_version')).rows[0].server_version})`,
);

const code = await new Promise<number>((resolve) => {
  const child = spawn(process.execPath, ['--test', `--test-concurrency=${concurrency}`, ...files], {
    stdio: 'inherit',
    env: {
      ...process.env,
      RAMPART_TEST_DATABASE_URL: baseUrl,
      RAMPART_TEST_TEMPLATE: template,
      RAMPART_TEST_RUN: String(process.pid),
      RAMPART_TEST_EXTERNAL: external ? '1' : '',
    },
  });
  child.on('exit', (status, signal) => resolve(status ?? (signal ? 1 : 0)));
});

// Test files drop their own databases; this catches the ones a crashed file left.
const leftovers = await admin.query<{ datname: string }>(
  'SELECT datname FROM pg_database WHERE datname LIKE $1 OR datname = $2',
  [`rampart_t_${process.pid}_%`, template],
);
for (const { datname } of leftovers.rows) await admin.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
await admin.end();
await cluster?.stop();
if (tempDir) rmSync(tempDir, { recursive: true, force: true });
process.exit(code);
