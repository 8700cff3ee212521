import type { Clock, Queryable, Store } from '@rampart/core';
import { RampartError } from '@rampart/errors';
import { CHAIN_OF_NETWORK, chainOf } from './chains.ts';
import { deriveAddress, describeXpub, MAX_CHILD_INDEX, readXpub, xpubId } from './derivation.ts';

/** A user's deposit address on one network, derived from the operator's xpub. */
export interface DepositAddress {
  operatorId: string;
  userId: string;
  network: string;
  /** The non-hardened BIP32 child index the address was derived at. */
  index: number;
  address: string;
  createdAt: Date;
}

interface Row {
  operator_id: string;
  user_id: string;
  network: string;
  derivation_index: number;
  address: string;
  created_at: Date;
}

const COLUMNS = 'operator_id, user_id, network, derivation_index, address, created_at';

function present(row: Row): DepositAddress {
  return {
    operatorId: row.operator_id,
    userId: row.user_id,
    network: row.network,
    index: row.derivation_index,
    address: row.address,
    createdAt: row.created_at,
  };
}

const UNIQUE_VIOLATION = '23505';

/** A key given in another serialisation than the wallet registered (or another wallet's key): refused. */
function keyInUse(network: string, xpub: string, cause?: unknown): RampartError {
  return new RampartError(
    'invalid_value',
    {
      field: `crypto_xpubs.${network}`,
      provided: describeXpub(xpub),
      expected: 'an extended public key that no other wallet registration uses',
    },
    cause === undefined ? undefined : { cause },
  );
}

/**
 * The address book: each user gets one deposit address per network and wallet key,
 * derived at the next free index of the operator's xpub for that key's chain. Networks
 * of one address format share a chain (ETHEREUM, ERC20 and BEP20): a user keeps one
 * address on all of them, and no two users are given one address on any. Indexes are
 * allocated without gaps or duplicates, however many nodes allocate at once.
 */
export class DepositAddresses {
  private readonly db: Store;
  private readonly clock: Clock;

  constructor(db: Store, clock: Clock) {
    this.db = db;
    this.clock = clock;
  }

  /** The user's address on `network` for this xpub: the one they have, or a new one. */
  async addressFor(input: {
    operatorId: string;
    userId: string;
    network: string;
    xpub: string;
  }): Promise<DepositAddress> {
    const { network, chain } = chainOf(input.network);
    // A bad key is refused before anything is allocated.
    const key = readXpub(input.xpub, network);
    const wallet = xpubId(input.xpub);
    const ids = [input.operatorId, input.userId, network, wallet];
    const existing = await this.find(this.db, ids);
    if (existing) return existing;
    const siblings = Object.entries(CHAIN_OF_NETWORK)
      .filter(([, of]) => of === chain)
      .map(([name]) => name)
      .sort();
    return this.db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO deposit_address_indexes (operator_id, network, xpub_sha256)
         SELECT $1, unnest($2::text[]), $3 ON CONFLICT DO NOTHING`,
        [input.operatorId, siblings, wallet],
      );
      // The rows' locks serialise allocation per operator, key and chain until commit:
      // every network of the chain counts from the highest index any of them gave.
      const { rows } = await tx.query<{ next_index: number }>(
        `SELECT next_index FROM deposit_address_indexes
          WHERE operator_id = $1 AND network = ANY($2::text[]) AND xpub_sha256 = $3
          ORDER BY network FOR UPDATE`,
        [input.operatorId, siblings, wallet],
      );
      // A concurrent call for the same user may have committed while this one waited
      // for the lock; each statement sees the latest commits, so it is found here.
      const raced = await this.find(tx, ids);
      if (raced) return raced;
      // The user's address on another network of this chain is theirs here too.
      const { rows: kept } = await tx.query<Row>(
        `SELECT ${COLUMNS} FROM deposit_addresses
          WHERE operator_id = $1 AND user_id = $2 AND network = ANY($3::text[]) AND xpub_sha256 = $4
          ORDER BY derivation_index LIMIT 1`,
        [input.operatorId, input.userId, siblings, wallet],
      );
      const index = kept[0]?.derivation_index ?? Math.max(...rows.map((row) => row.next_index));
      if (index > MAX_CHILD_INDEX) {
        throw new RampartError('invalid_value', {
          field: `crypto_xpubs.${network}`,
          provided: describeXpub(input.xpub),
          expected: 'a fresh extended public key: every non-hardened index of this one is in use',
        });
      }
      const address = deriveAddress(key, network, index);
      // Owned on its chain by this user alone: another operator's registration of the same
      // wallet (on any network of the chain) would hand it out twice.
      const owner = await tx.query<{ operator_id: string; user_id: string }>(
        `WITH claimed AS (
           INSERT INTO deposit_address_owners (chain, address, operator_id, user_id) VALUES ($1, $2, $3, $4)
           ON CONFLICT DO NOTHING RETURNING operator_id, user_id)
         SELECT operator_id, user_id FROM claimed
         UNION ALL SELECT operator_id, user_id FROM deposit_address_owners WHERE chain = $1 AND address = $2`,
        [chain, address, input.operatorId, input.userId],
      );
      const { operator_id, user_id } = owner.rows[0]!;
      if (operator_id !== input.operatorId || user_id !== input.userId) throw keyInUse(network, input.xpub);
      try {
        const inserted = await tx.query<Row>(
          `INSERT INTO deposit_addresses
             (operator_id, user_id, network, xpub_sha256, derivation_index, address, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${COLUMNS}`,
          [input.operatorId, input.userId, network, wallet, index, address, this.clock.now()],
        );
        if (!kept[0])
          await tx.query(
            `UPDATE deposit_address_indexes SET next_index = $4
              WHERE operator_id = $1 AND network = ANY($2::text[]) AND xpub_sha256 = $3`,
            [input.operatorId, siblings, wallet, index + 1],
          );
        return present(inserted.rows[0]!);
      } catch (error) {
        const pg = error as { code?: string; constraint?: string };
        // Another wallet registration (usually another operator) derives the same
        // addresses: deposits could not be told apart, so the key is refused.
        if (pg.code === UNIQUE_VIOLATION && pg.constraint === 'deposit_addresses_address_unique')
          throw keyInUse(network, input.xpub, error);
        throw error;
      }
    });
  }

  /** Whose address this is on `network`: how an incoming transfer is attributed. */
  async owner(network: string, address: string): Promise<DepositAddress | undefined> {
    const { rows } = await this.db.query<Row>(
      `SELECT ${COLUMNS} FROM deposit_addresses WHERE network = $1 AND address = $2`,
      [chainOf(network).network, address],
    );
    return rows[0] ? present(rows[0]) : undefined;
  }

  private async find(db: Queryable, ids: string[]): Promise<DepositAddress | undefined> {
    const { rows } = await db.query<Row>(
      `SELECT ${COLUMNS} FROM deposit_addresses
        WHERE operator_id = $1 AND user_id = $2 AND network = $3 AND xpub_sha256 = $4`,
      ids,
    );
    return rows[0] ? present(rows[0]) : undefined;
  }
}
