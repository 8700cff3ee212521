import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createTestDatabase } from '../../server/test/harness.ts';

describe('Database', async () => {
  const { db } = await createTestDatabase();

  test('a table changed under prepared statements (a newer node migrated) is read again, not refused', async () => {
    await db.query('CREATE TABLE rolling (id text PRIMARY KEY, amount bigint NOT NULL)');
    await db.query('INSERT INTO rolling VALUES ($1, $2)', ['a', 5n]);
    const read = () => db.query('SELECT * FROM rolling WHERE id = $1', ['a']);
    const inTransaction = () => db.transaction((tx) => tx.query('SELECT * FROM rolling WHERE id = $1', ['a']));
    // Prepared on (possibly several of) the pool's connections, by both paths.
    for (let i = 0; i < 4; i++) {
      assert.deepEqual((await read()).rows, [{ id: 'a', amount: 5n }]);
      assert.deepEqual((await inTransaction()).rows, [{ id: 'a', amount: 5n }]);
    }
    await db.query("ALTER TABLE rolling ADD COLUMN note text NOT NULL DEFAULT 'new'");
    assert.deepEqual((await read()).rows, [{ id: 'a', amount: 5n, note: 'new' }]);
    assert.deepEqual((await inTransaction()).rows, [{ id: 'a', amount: 5n, note: 'new' }]);
  });
});
