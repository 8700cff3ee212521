import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { systemClock } from '@rampart/core';
import { isRampartError, type RampartError } from '@rampart/errors';
import { bech32, bech32m } from '@scure/base';
import { HDKey } from '@scure/bip32';
import { createTestDatabase } from '../../server/test/harness.ts';
import { isValidAddress as simulatorAccepts } from '../../simulator/src/crypto/addresses.ts';
import { DepositAddresses } from '../src/crypto/deposit-addresses.ts';
import { deriveAddress, MAX_CHILD_INDEX, readXpub, xpubId } from '../src/crypto/derivation.ts';
import { evmAddress, p2wpkhAddress, tronAddress } from '../src/crypto/encoding.ts';
import { assertPayoutAddress, isValidAddress } from '../src/crypto/validation.ts';
import {
  BIP32_VECTOR_1,
  expectedAddresses,
  GENERATOR_EVM,
  GENERATOR_P2WPKH,
  GENERATOR_PUBKEY,
  OTHER_XPUB,
  TEST_XPUB,
} from './crypto-fixtures.ts';
import { seedOperator, thrownBy } from './sandbox.ts';

async function refusalOf(work: Promise<unknown>): Promise<RampartError> {
  try {
    await work;
  } catch (error) {
    if (isRampartError(error)) return error;
    throw error;
  }
  assert.fail('expected a RampartError');
}

const hex = (text: string) => Uint8Array.from(Buffer.from(text, 'hex'));

describe('address encoding', () => {
  test('the generator key encodes to its published Bitcoin and EVM addresses', () => {
    assert.equal(p2wpkhAddress(hex(GENERATOR_PUBKEY)), GENERATOR_P2WPKH);
    assert.equal(evmAddress(hex(GENERATOR_PUBKEY)), GENERATOR_EVM);
  });

  test('each network encodes a key as an independent implementation does', () => {
    const expected = expectedAddresses(GENERATOR_PUBKEY);
    assert.equal(p2wpkhAddress(hex(GENERATOR_PUBKEY)), expected.BITCOIN);
    assert.equal(evmAddress(hex(GENERATOR_PUBKEY)), expected.ETHEREUM);
    assert.equal(tronAddress(hex(GENERATOR_PUBKEY)), expected.TRC20);
    assert.match(expected.TRC20, /^T[1-9A-HJ-NP-Za-km-z]{33}$/);
  });
});

describe('deposit address derivation', () => {
  for (const vector of BIP32_VECTOR_1) {
    test(`child ${vector.path} of BIP32 test vector 1 gives the addresses of its published public key`, () => {
      const expected = expectedAddresses(vector.publicKey);
      assert.equal(deriveAddress(vector.parent, 'BITCOIN', vector.index), expected.BITCOIN);
      assert.equal(deriveAddress(vector.parent, 'TRC20', vector.index), expected.TRC20);
      for (const network of ['ETHEREUM', 'ERC20', 'BEP20']) {
        assert.equal(deriveAddress(vector.parent, network, vector.index), expected.ETHEREUM, network);
      }
    });
  }

  test('derived addresses pass the ramp’s own checks for their networks, and differ per index', () => {
    const seen = new Set<string>();
    for (let index = 0; index < 5; index++) {
      assert.ok(simulatorAccepts('bitcoin', deriveAddress(TEST_XPUB, 'BITCOIN', index)));
      assert.ok(simulatorAccepts('evm', deriveAddress(TEST_XPUB, 'ERC20', index)));
      assert.ok(simulatorAccepts('tron', deriveAddress(TEST_XPUB, 'TRC20', index)));
      seen.add(deriveAddress(TEST_XPUB, 'TRC20', index));
    }
    assert.equal(seen.size, 5);
  });

  test('an extended private key is refused without being echoed', () => {
    const master = HDKey.fromMasterSeed(hex('000102030405060708090a0b0c0d0e0f'));
    assert.equal(master.publicExtendedKey, OTHER_XPUB, 'BIP32 test vector 1 master');
    const error = thrownBy(() => deriveAddress(master.privateExtendedKey, 'TRC20', 0));
    assert.equal(error.code, 'invalid_value');
    assert.equal(error.details['field'], 'crypto_xpubs.TRC20');
    assert.equal(error.details['provided'], '[private key refused]');
    assert.ok(!JSON.stringify(error.details).includes(master.privateExtendedKey.slice(4, 30)));
  });

  test('a key with a broken checksum, a testnet key or an unknown network is invalid_value', () => {
    const broken = `${TEST_XPUB.slice(0, -1)}${TEST_XPUB.endsWith('w') ? 'x' : 'w'}`;
    assert.equal(thrownBy(() => readXpub(broken, 'TRC20')).code, 'invalid_value');
    const tpub = HDKey.fromMasterSeed(hex('000102030405060708090a0b0c0d0e0f'), {
      private: 0x04358394,
      public: 0x043587cf,
    }).publicExtendedKey;
    assert.match(tpub, /^tpub/);
    assert.equal(thrownBy(() => readXpub(tpub, 'BITCOIN')).code, 'invalid_value');
    const unknown = thrownBy(() => deriveAddress(TEST_XPUB, 'SOLANA', 0));
    assert.equal(unknown.code, 'invalid_value');
    assert.equal(unknown.details['field'], 'network');
  });

  test('only non-hardened indexes are derived', () => {
    assert.doesNotThrow(() => deriveAddress(TEST_XPUB, 'TRC20', MAX_CHILD_INDEX));
    assert.throws(() => deriveAddress(TEST_XPUB, 'TRC20', MAX_CHILD_INDEX + 1), RangeError);
    assert.throws(() => deriveAddress(TEST_XPUB, 'TRC20', -1), RangeError);
  });
});

describe('payout address validation', () => {
  const valid: [string, string][] = [
    ['TRC20', 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t'],
    ['ERC20', '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed'],
    ['BEP20', '0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed'],
    ['ETHEREUM', '0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED'],
    ['BITCOIN', 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4'],
    ['BITCOIN', 'BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4'],
    ['BITCOIN', 'bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3'],
    ['BITCOIN', 'bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0'],
    ['BITCOIN', '1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa'],
    ['BITCOIN', '3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy'],
  ];
  for (const [network, address] of valid) {
    test(`accepts ${network} ${address}`, () => {
      assert.equal(isValidAddress(network, address), true);
      assert.equal(assertPayoutAddress(network, address), address);
      const ramp = network === 'BITCOIN' ? 'bitcoin' : network === 'TRC20' ? 'tron' : 'evm';
      assert.equal(simulatorAccepts(ramp, address), true, 'the ramp agrees');
    });
  }

  const program = new Uint8Array(32).fill(7);
  const invalid: [string, string, string][] = [
    ['ERC20', '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD', 'EIP-55 checksum: one letter’s case changed'],
    ['ERC20', '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeA', 'too short'],
    ['ERC20', 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t', 'a TRON address'],
    ['TRC20', 'TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6u', 'base58check checksum'],
    ['TRC20', '1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa', 'valid base58check, version 0x00 not 0x41'],
    ['TRC20', '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed', 'an EVM address'],
    ['BITCOIN', 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5', 'bech32 checksum'],
    ['BITCOIN', 'bc1qW508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4', 'mixed case bech32'],
    ['BITCOIN', 'tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx', 'testnet'],
    [
      'BITCOIN',
      bech32.encode('bc', [1, ...bech32.toWords(program)]),
      'v1 program with a bech32 (not bech32m) checksum',
    ],
    ['BITCOIN', bech32m.encode('bc', [0, ...bech32m.toWords(program)]), 'v0 program with a bech32m checksum'],
    ['BITCOIN', bech32.encode('bc', [0, ...bech32.toWords(new Uint8Array(25))]), 'v0 program of 25 bytes'],
    ['BITCOIN', '1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb', 'base58check checksum of P2PKH'],
    ['BITCOIN', 'mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn', 'testnet P2PKH'],
    ['BITCOIN', '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed', 'an EVM address'],
  ];
  for (const [network, address, why] of invalid) {
    test(`refuses ${network} ${address.slice(0, 20)}… (${why}) as invalid_value on instrument.address`, () => {
      assert.equal(isValidAddress(network, address), false);
      const error = thrownBy(() => assertPayoutAddress(network, address));
      assert.equal(error.code, 'invalid_value');
      assert.deepEqual(Object.keys(error.details).sort(), ['expected', 'field', 'provided']);
      assert.equal(error.details['field'], 'instrument.address');
      assert.equal(error.details['provided'], address);
      assert.match(String(error.details['expected']), /address/);
    });
  }

  test('a missing address is missing_parameter; a non-string is invalid_value', () => {
    const missing = thrownBy(() => assertPayoutAddress('TRC20', undefined));
    assert.equal(missing.code, 'missing_parameter');
    assert.equal(missing.details['field'], 'instrument.address');
    assert.equal(thrownBy(() => assertPayoutAddress('TRC20', 42)).code, 'invalid_value');
  });
});

describe('the deposit address book', async () => {
  const { db } = await createTestDatabase();
  const people = await seedOperator(db);
  const other = await seedOperator(db);
  const book = new DepositAddresses(db, systemClock);
  const operatorId = people.operatorId;

  test('a user keeps one address per network, derived at the next index', async () => {
    await people.user('keeper');
    await people.user('second');
    const first = await book.addressFor({ operatorId, userId: 'keeper', network: 'trc20', xpub: TEST_XPUB });
    assert.equal(first.network, 'TRC20');
    assert.equal(first.index, 0);
    assert.equal(first.address, deriveAddress(TEST_XPUB, 'TRC20', 0));
    const again = await book.addressFor({ operatorId, userId: 'keeper', network: 'TRC20', xpub: TEST_XPUB });
    assert.deepEqual(again, first);
    const second = await book.addressFor({ operatorId, userId: 'second', network: 'TRC20', xpub: TEST_XPUB });
    assert.equal(second.index, 1);
    assert.equal(second.address, deriveAddress(TEST_XPUB, 'TRC20', 1));
    // Each chain (address format) has its own series.
    const btc = await book.addressFor({ operatorId, userId: 'second', network: 'BITCOIN', xpub: TEST_XPUB });
    assert.equal(btc.index, 0);
    assert.match(btc.address, /^bc1q/);
    assert.deepEqual(await book.owner('TRC20', second.address), second);
    assert.equal(await book.owner('ERC20', second.address), undefined);
  });

  test('20 parallel allocations get the 20 next indexes: no gap, no duplicate', async () => {
    const users = await Promise.all(Array.from({ length: 20 }, (_, i) => people.user(`parallel-${i}`)));
    const allocated = await Promise.all(
      users.map((user) => book.addressFor({ operatorId, userId: user.id, network: 'ERC20', xpub: TEST_XPUB })),
    );
    assert.deepEqual(
      allocated.map((a) => a.index).sort((a, b) => a - b),
      Array.from({ length: 20 }, (_, i) => i),
    );
    assert.equal(new Set(allocated.map((a) => a.address)).size, 20);
    for (const a of allocated) assert.equal(a.address, deriveAddress(TEST_XPUB, 'ERC20', a.index));
  });

  test('the networks of one address format share a series: a user keeps one address on them, no two users share one', async () => {
    // ERC20 gave indexes 0 to 19 above: BEP20 and ETHEREUM, EVM chains too, go on from 20.
    await people.user('evm-first');
    await people.user('evm-next');
    const first = await book.addressFor({ operatorId, userId: 'evm-first', network: 'BEP20', xpub: TEST_XPUB });
    assert.equal(first.index, 20);
    const same = await book.addressFor({ operatorId, userId: 'evm-first', network: 'ETHEREUM', xpub: TEST_XPUB });
    assert.deepEqual([same.index, same.address, same.network], [20, first.address, 'ETHEREUM']);
    const next = await book.addressFor({ operatorId, userId: 'evm-next', network: 'ETHEREUM', xpub: TEST_XPUB });
    assert.equal(next.index, 21);
    assert.equal((await book.owner('BEP20', first.address))?.userId, 'evm-first');
    assert.equal((await book.owner('ETHEREUM', next.address))?.userId, 'evm-next');
  });

  test('an address a node of an earlier release hands out, recording no owner, is owned on its chain all the same', async () => {
    // As such a node allocates: per network, an insert of the address alone.
    const oldRelease = (userId: string, network: string, index: number) =>
      db.query(
        `INSERT INTO deposit_addresses (operator_id, user_id, network, xpub_sha256, derivation_index, address, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, now())`,
        [operatorId, userId, network, xpubId(TEST_XPUB), index, deriveAddress(TEST_XPUB, network, index)],
      );
    await people.user('old-release-first');
    await people.user('old-release-second');
    await oldRelease('old-release-first', 'ERC20', 100);
    const { rows } = await db.query('SELECT operator_id, user_id FROM deposit_address_owners WHERE address = $1', [
      deriveAddress(TEST_XPUB, 'ERC20', 100),
    ]);
    assert.deepEqual(rows, [{ operator_id: operatorId, user_id: 'old-release-first' }]);
    // ETHEREUM's own series, as that release kept it, reaching the same index: one address, another user.
    await assert.rejects(oldRelease('old-release-second', 'ETHEREUM', 100), {
      code: '23505',
      constraint: 'deposit_addresses_address_unique',
    });
    await oldRelease('old-release-first', 'ETHEREUM', 100);
    assert.equal(
      (await book.owner('ETHEREUM', deriveAddress(TEST_XPUB, 'ETHEREUM', 100)))?.userId,
      'old-release-first',
    );
  });

  test('parallel allocations for one user give that user one address', async () => {
    await people.user('eager');
    const allocated = await Promise.all(
      Array.from({ length: 10 }, () =>
        book.addressFor({ operatorId, userId: 'eager', network: 'BEP20', xpub: TEST_XPUB }),
      ),
    );
    assert.equal(new Set(allocated.map((a) => a.address)).size, 1);
    assert.equal(allocated[0]!.index, 22);
    const next = await people.user('after-eager');
    assert.equal((await book.addressFor({ operatorId, userId: next.id, network: 'BEP20', xpub: TEST_XPUB })).index, 23);
  });

  test('an allocation that fails gives its index back', async () => {
    await assert.rejects(book.addressFor({ operatorId, userId: 'nobody', network: 'ETHEREUM', xpub: TEST_XPUB }));
    await people.user('somebody');
    const allocated = await book.addressFor({ operatorId, userId: 'somebody', network: 'ETHEREUM', xpub: TEST_XPUB });
    assert.equal(allocated.index, 24);
  });

  test('a rotated xpub gives new addresses from index 0; the old address still belongs to its user', async () => {
    await people.user('rotating');
    const old = await book.addressFor({ operatorId, userId: 'rotating', network: 'BITCOIN', xpub: TEST_XPUB });
    const rotated = await book.addressFor({ operatorId, userId: 'rotating', network: 'BITCOIN', xpub: OTHER_XPUB });
    assert.equal(rotated.index, 0);
    assert.equal(rotated.address, deriveAddress(OTHER_XPUB, 'BITCOIN', 0));
    assert.notEqual(rotated.address, old.address);
    assert.equal((await book.owner('BITCOIN', old.address))?.userId, 'rotating');
  });

  test('a private key or another operator’s xpub is refused and allocates nothing', async () => {
    await other.user('copycat');
    const master = HDKey.fromMasterSeed(hex('000102030405060708090a0b0c0d0e0f'));
    const privateKey = await refusalOf(
      book.addressFor({ operatorId, userId: 'keeper', network: 'TRC20', xpub: master.privateExtendedKey }),
    );
    assert.equal(privateKey.code, 'invalid_value');
    // `keeper` already holds index 0 of TEST_XPUB on TRC20 under the first operator.
    const shared = await refusalOf(
      book.addressFor({ operatorId: other.operatorId, userId: 'copycat', network: 'TRC20', xpub: TEST_XPUB }),
    );
    assert.equal(shared.code, 'invalid_value');
    assert.equal(shared.details['field'], 'crypto_xpubs.TRC20');
    const { rows } = await db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM deposit_addresses WHERE operator_id = $1',
      [other.operatorId],
    );
    assert.equal(rows[0]?.n, 0);
  });
});
