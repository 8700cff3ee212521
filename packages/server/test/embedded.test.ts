import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import pg from 'pg';
import { runningClusterUrl, startEmbeddedPostgres } from '../src/index.ts';

/** The address the server side of a connection to `url` has: null over a Unix socket. */
async function serverAddress(url: string): Promise<string | null> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<{ address: string | null }>('SELECT inet_server_addr()::text AS address')).rows[0]!
      .address;
  } finally {
    await client.end();
  }
}

test('the embedded cluster is reached by its Unix socket, and on 127.0.0.1 by TCP as well', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'rampart-pg-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));
  const cluster = await startEmbeddedPostgres({ dataDir });
  try {
    assert.equal(await serverAddress(cluster.url), null, 'the URL it gives goes through the socket');
    assert.equal(runningClusterUrl(dataDir), cluster.url, 'the CLI is given the same way in');
    const tcp = new URL(cluster.url);
    tcp.search = '';
    assert.equal(await serverAddress(tcp.toString()), '127.0.0.1/32');
    // A cluster started by an earlier release had no socket: the CLI then takes TCP.
    rmSync(join(dataDir, 'pg', `.s.PGSQL.${cluster.port}`));
    assert.equal(await serverAddress(runningClusterUrl(dataDir)!), '127.0.0.1/32');
  } finally {
    await cluster.stop();
  }
});

test('a data directory too deep for a socket path is reached by TCP', async () => {
  const base = mkdtempSync(join(tmpdir(), 'rampart-pg-'));
  after(() => rmSync(base, { recursive: true, force: true }));
  chmodSync(base, 0o755); // PostgreSQL runs as its own user when we are root: it must reach the directory
  const dataDir = join(base, 'a-data-directory-deep-enough'.repeat(3));
  const cluster = await startEmbeddedPostgres({ dataDir });
  try {
    assert.ok(join(dataDir, 'pg', '.s.PGSQL.65535').length > 107);
    assert.equal(await serverAddress(cluster.url), '127.0.0.1/32');
  } finally {
    await cluster.stop();
  }
});

test('a data directory whose path PostgreSQL would split (a comma) is reached by TCP', async () => {
  const base = mkdtempSync(join(tmpdir(), 'rampart-pg-'));
  after(() => rmSync(base, { recursive: true, force: true }));
  chmodSync(base, 0o755);
  const dataDir = join(base, 'one,two');
  const cluster = await startEmbeddedPostgres({ dataDir });
  try {
    assert.equal(await serverAddress(cluster.url), '127.0.0.1/32');
    assert.equal(runningClusterUrl(dataDir), cluster.url);
  } finally {
    await cluster.stop();
  }
});
