import { createHash } from 'node:crypto';
import { RampartError } from '@rampart/errors';
import type { Clock } from '../clock.ts';
import type { SecretBox } from '../crypto/secret-box.ts';
import type { Queryable } from '../storage/database.ts';

export interface StoredResponse {
  status: number;
  body: string;
  contentType: string;
}

/**
 * `claimed`: this request runs, and no other with its key is running. `takenOver` when
 * an earlier one ran and ended without an answer to replay (it failed with a 5xx, or
 * died part-way and its lease lapsed): whatever it left is this request's to answer for.
 */
export type Claim = { kind: 'claimed'; takenOver: boolean } | { kind: 'replay'; response: StoredResponse };

/** Keys are opaque to us but bounded, printable, and never empty. */
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/** JSON with sorted object keys, so `{a,b}` and `{b,a}` are the same request. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function requestFingerprint(method: string, path: string, body: unknown): Buffer {
  return createHash('sha256')
    .update(`${method}\n${path}\n${canonicalJson(body ?? null)}`)
    .digest();
}

/**
 * Idempotency-Key bookkeeping. A request claims its key before it runs; a second
 * request with the same key either replays the stored answer, conflicts (another
 * body), or is told the first is still running. Exactly one request per key runs.
 */
export class IdempotencyKeys {
  private readonly db: Queryable;
  private readonly clock: Clock;
  /**
   * A claim's lease: how long it protects its request without being renewed. A running
   * request renews it (`renew`, every third of the lease), so it lapses only when the
   * process running the request has died — after which a retry may take the key over
   * within one lease, instead of waiting out the longest request there could be.
   */
  readonly leaseSeconds: number;
  /**
   * Stored answers can hold secrets shown once (a new API key, a webhook signing
   * secret): with a box they are encrypted at rest, bound to their key.
   */
  private readonly box: SecretBox | undefined;

  constructor(db: Queryable, clock: Clock, options: { leaseSeconds?: number; box?: SecretBox } = {}) {
    this.db = db;
    this.clock = clock;
    this.leaseSeconds = options.leaseSeconds ?? 15;
    this.box = options.box;
  }

  private seal(principal: string, key: string, body: string): string {
    return this.box ? `sealed:${this.box.seal(body, `${principal}\n${key}`).toString('base64')}` : body;
  }

  private open(principal: string, key: string, stored: string): string {
    if (!stored.startsWith('sealed:')) return stored;
    if (!this.box) throw new Error('an idempotent answer is sealed but no secrets key is configured');
    return this.box.open(Buffer.from(stored.slice('sealed:'.length), 'base64'), `${principal}\n${key}`);
  }

  static validateKey(key: string): void {
    if (!KEY_PATTERN.test(key)) {
      throw new RampartError('invalid_value', {
        field: 'Idempotency-Key',
        provided: key.slice(0, 64),
        expected: '1 to 255 printable ASCII characters',
      });
    }
  }

  async claim(principal: string, key: string, fingerprint: Buffer): Promise<Claim> {
    IdempotencyKeys.validateKey(key);
    const now = this.clock.now();
    const lockedUntil = new Date(now.getTime() + this.leaseSeconds * 1000);
    // One statement: insert, or take over a lapsed claim of the same request (an updated
    // row has a non-zero xmax); otherwise return nothing and look at what is there.
    const claimed = await this.db.query<{ taken_over: boolean }>({
      name: 'idempotency-claim',
      text: `INSERT INTO idempotency_keys (principal, key, request_hash, state, created_at, locked_until)
             VALUES ($1, $2, $3, 'running', $4, $5)
             ON CONFLICT (principal, key) DO UPDATE SET locked_until = EXCLUDED.locked_until
               WHERE idempotency_keys.state = 'running'
                 AND idempotency_keys.locked_until < $4
                 AND idempotency_keys.request_hash = EXCLUDED.request_hash
             RETURNING xmax <> 0 AS taken_over`,
      values: [principal, key, fingerprint, now, lockedUntil],
    });
    if (claimed.rows[0]) return { kind: 'claimed', takenOver: claimed.rows[0].taken_over };

    const { rows } = await this.db.query<{
      request_hash: Buffer;
      state: 'running' | 'done';
      response_status: number | null;
      response_body: string | null;
      response_type: string | null;
    }>({
      name: 'idempotency-read',
      text: `SELECT request_hash, state, response_status, response_body, response_type
               FROM idempotency_keys WHERE principal = $1 AND key = $2`,
      values: [principal, key],
    });
    const row = rows[0];
    // Purged between the two statements: treat as the conflict it nearly was.
    if (!row) throw new RampartError('idempotency_in_progress', { idempotency_key: key });
    if (!row.request_hash.equals(fingerprint)) throw new RampartError('idempotency_conflict', { idempotency_key: key });
    if (row.state === 'running') throw new RampartError('idempotency_in_progress', { idempotency_key: key });
    return {
      kind: 'replay',
      response: {
        status: row.response_status!,
        body: this.open(principal, key, row.response_body ?? ''),
        contentType: row.response_type ?? '',
      },
    };
  }

  /** Extends a running request's lease by `leaseSeconds` from now. */
  async renew(principal: string, key: string): Promise<void> {
    await this.db.query({
      name: 'idempotency-renew',
      text: `UPDATE idempotency_keys SET locked_until = $3 WHERE principal = $1 AND key = $2 AND state = 'running'`,
      values: [principal, key, new Date(this.clock.now().getTime() + this.leaseSeconds * 1000)],
    });
  }

  async complete(principal: string, key: string, response: StoredResponse): Promise<void> {
    await this.db.query({
      name: 'idempotency-complete',
      text: `UPDATE idempotency_keys SET state = 'done', response_status = $3, response_body = $4, response_type = $5
              WHERE principal = $1 AND key = $2`,
      values: [principal, key, response.status, this.seal(principal, key, response.body), response.contentType],
    });
  }

  /**
   * The request failed in a way a retry may fix (5xx): its lease ends now, so a retry
   * runs again, taking the key over (`takenOver`) as from a request that died.
   */
  async release(principal: string, key: string): Promise<void> {
    await this.db.query(
      `UPDATE idempotency_keys SET locked_until = '-infinity' WHERE principal = $1 AND key = $2 AND state = 'running'`,
      [principal, key],
    );
  }

  /**
   * Background purge, bounded per call so it never holds locks for long: answers older
   * than the TTL, and claims of requests that ended unanswered as long ago.
   */
  async purge(olderThanSeconds: number, batch = 1000): Promise<number> {
    const cutoff = new Date(this.clock.now().getTime() - olderThanSeconds * 1000);
    const result = await this.db.query(
      `DELETE FROM idempotency_keys WHERE ctid IN (
         SELECT ctid FROM idempotency_keys
          WHERE created_at < $1 AND (state = 'done' OR locked_until < $1) LIMIT $2)`,
      [cutoff, batch],
    );
    return result.rowCount ?? 0;
  }
}
