import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import { RampartError } from '@rampart/errors';
import type { Clock } from '../clock.ts';
import type { IdGenerator } from '../ids.ts';
import type { KeyMode } from '../operators/api-keys.ts';
import type { Queryable, Store } from '../storage/database.ts';
import type { EndUser, EndUsers } from './end-users.ts';

/** A verification message for a user: the text to send, and what it carries apart. */
export interface OutgoingMessage {
  /** The operator tenant the user belongs to, and its mode. */
  operatorId: string;
  mode: KeyMode;
  userId: string;
  channel: 'email' | 'sms';
  to: string;
  subject?: string;
  body: string;
  /** The link to open (email) or the code to type (SMS), for senders that write their own text. */
  link?: string;
  code?: string;
  expiresAt: Date;
}

/**
 * Outgoing messages: the server routes them to the operator's message endpoint, or in
 * test mode to the development outbox. Throws a catalog error when it cannot send.
 */
export interface MessageSender {
  send(message: OutgoingMessage): Promise<void>;
}

/** Development transport: messages land in a table that the CLI and the dev page show. */
export class DevOutbox implements MessageSender {
  private readonly db: Queryable;
  private readonly ids: IdGenerator;
  private readonly clock: Clock;

  constructor(db: Queryable, ids: IdGenerator, clock: Clock) {
    this.db = db;
    this.ids = ids;
    this.clock = clock;
  }

  async send(message: OutgoingMessage): Promise<void> {
    await this.db.query(
      `INSERT INTO dev_outbox (id, operator_id, channel, destination, subject, body, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        this.ids('msg'),
        message.operatorId,
        message.channel,
        message.to,
        message.subject ?? null,
        message.body,
        this.clock.now(),
      ],
    );
  }

  async list(filter: { operatorId?: string; to?: string; limit?: number } = {}) {
    const { rows } = await this.db.query<{
      id: string;
      operator_id: string;
      channel: string;
      destination: string;
      subject: string | null;
      body: string;
      created_at: Date;
    }>(
      `SELECT id, operator_id, channel, destination, subject, body, created_at FROM dev_outbox
        WHERE ($1::text IS NULL OR operator_id = $1) AND ($2::text IS NULL OR destination = $2)
        ORDER BY id DESC LIMIT $3`,
      [filter.operatorId ?? null, filter.to ?? null, Math.min(filter.limit ?? 20, 200)],
    );
    return rows;
  }
}

export interface VerificationLimits {
  /** Messages per user and channel per hour. */
  sendsPerHour: number;
  /** Wrong codes before a phone challenge is void. */
  maxAttempts: number;
  emailLinkTtlSeconds: number;
  phoneCodeTtlSeconds: number;
}

export const DEFAULT_VERIFICATION_LIMITS: VerificationLimits = {
  sendsPerHour: 5,
  maxAttempts: 5,
  emailLinkTtlSeconds: 86_400,
  phoneCodeTtlSeconds: 600,
};

const digest = (secret: string) => createHash('sha256').update(secret).digest();

/** Email links and SMS codes that open the email and phone gates. Secrets are stored hashed. */
export class Verification {
  private readonly db: Store;
  private readonly ids: IdGenerator;
  private readonly clock: Clock;
  private readonly users: EndUsers;
  private readonly sender: MessageSender;
  private readonly limits: VerificationLimits;

  constructor(deps: {
    db: Store;
    ids: IdGenerator;
    clock: Clock;
    users: EndUsers;
    sender: MessageSender;
    limits?: VerificationLimits;
  }) {
    this.db = deps.db;
    this.ids = deps.ids;
    this.clock = deps.clock;
    this.users = deps.users;
    this.sender = deps.sender;
    this.limits = deps.limits ?? DEFAULT_VERIFICATION_LIMITS;
  }

  /** Every challenge of the last hour counts, sent or not: a send that timed out may have reached the user. */
  private async throttle(tx: Queryable, user: EndUser, channel: 'email' | 'phone'): Promise<void> {
    const now = this.clock.now();
    const { rows } = await tx.query<{ n: bigint; oldest: Date | null }>(
      `SELECT count(*) AS n, min(created_at) AS oldest FROM verification_challenges
        WHERE operator_id = $1 AND user_id = $2 AND channel = $3 AND created_at > $4`,
      [user.operator_id, user.id, channel, new Date(now.getTime() - 3_600_000)],
    );
    const { n, oldest } = rows[0]!;
    if (Number(n) >= this.limits.sendsPerHour && oldest) {
      const retryAfter = Math.max(1, Math.ceil((oldest.getTime() + 3_600_000 - now.getTime()) / 1000));
      throw new RampartError('rate_limited', {
        retry_after: retryAfter,
        limit: this.limits.sendsPerHour,
        window: '1h',
      });
    }
  }

  /**
   * Records a challenge (counted against the user's sends for the hour, under a lock of
   * theirs so that concurrent requests cannot all pass the count), sends its message,
   * and only then marks it sent: confirmable. One whose send failed, or is still in
   * flight, opens nothing, even if the message went out before a failure showed.
   */
  private async challenge(
    user: EndUser,
    channel: 'email' | 'phone',
    destination: string,
    ttl: number,
    message: (id: string, expiresAt: Date) => { secret: string; send: OutgoingMessage },
  ): Promise<void> {
    const now = this.clock.now();
    const id = this.ids('vch');
    const expiresAt = new Date(now.getTime() + ttl * 1000);
    const { secret, send } = message(id, expiresAt);
    await this.db.transaction(async (tx) => {
      const lock = `verification:${user.operator_id}:${user.id}:${channel}`;
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [lock]);
      await this.throttle(tx, user, channel);
      await tx.query(
        `INSERT INTO verification_challenges (id, operator_id, user_id, channel, destination, secret_hash, created_at,
           expires_at, sent_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)`,
        [id, user.operator_id, user.id, channel, destination, digest(`${id}:${secret}`), now, expiresAt],
      );
    });
    await this.sender.send(send);
    await this.db.query('UPDATE verification_challenges SET sent_at = $2 WHERE id = $1', [id, this.clock.now()]);
  }

  /** Sends a one-time link to the user's email. `linkBase` is where the link lands. */
  async startEmail(
    operatorId: string,
    mode: KeyMode,
    userId: string,
    linkBase: string,
  ): Promise<{ sent_to: string; expires_in: number }> {
    const user = await this.users.get(operatorId, userId);
    const email = user.email;
    if (!email) throw new RampartError('missing_parameter', { field: 'email' });
    if (user.email_verified_at) return { sent_to: email, expires_in: 0 };
    const ttl = this.limits.emailLinkTtlSeconds;
    await this.challenge(user, 'email', email, ttl, (id, expiresAt) => {
      const secret = randomBytes(24).toString('base64url');
      const link = `${linkBase}?token=${id}.${secret}`;
      const body = `Open this link to verify your email address: ${link}\nIt expires in ${ttl % 3600 === 0 ? `${ttl / 3600} hours` : `${Math.ceil(ttl / 60)} minutes`}.`;
      const subject = 'Verify your email address';
      return {
        secret,
        send: { operatorId, mode, userId, channel: 'email', to: email, subject, body, link, expiresAt },
      };
    });
    return { sent_to: email, expires_in: ttl };
  }

  /** Confirms an email link token (`vch_….secret`). */
  async confirmEmail(token: string): Promise<EndUser> {
    const [id = '', secret = ''] = token.split('.');
    const now = this.clock.now();
    const { rows } = await this.db.query<{
      operator_id: string;
      user_id: string;
      destination: string;
      secret_hash: Buffer;
    }>(
      `UPDATE verification_challenges SET consumed_at = $3
        WHERE id = $1 AND channel = 'email' AND sent_at IS NOT NULL AND consumed_at IS NULL AND expires_at > $3
          AND secret_hash = $2
        RETURNING operator_id, user_id, destination, secret_hash`,
      [id, digest(`${id}:${secret}`), now],
    );
    const challenge = rows[0];
    if (!challenge) {
      throw new RampartError('invalid_value', {
        field: 'token',
        provided: '[redacted]',
        expected: 'a valid, unused link',
      });
    }
    return this.markVerified(challenge.operator_id, challenge.user_id, 'email', challenge.destination);
  }

  async startPhone(
    operatorId: string,
    mode: KeyMode,
    userId: string,
  ): Promise<{ sent_to: string; expires_in: number }> {
    const user = await this.users.get(operatorId, userId);
    const phone = user.phone;
    if (!phone) throw new RampartError('missing_parameter', { field: 'phone' });
    if (user.phone_verified_at) return { sent_to: phone, expires_in: 0 };
    await this.challenge(user, 'phone', phone, this.limits.phoneCodeTtlSeconds, (_id, expiresAt) => {
      const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
      const body = `Your verification code is ${code}`;
      return { secret: code, send: { operatorId, mode, userId, channel: 'sms', to: phone, body, code, expiresAt } };
    });
    return { sent_to: phone, expires_in: this.limits.phoneCodeTtlSeconds };
  }

  /** Checks a code against the newest live challenge; wrong codes count, and too many void it. */
  async confirmPhone(operatorId: string, userId: string, code: string): Promise<EndUser> {
    const now = this.clock.now();
    const { rows } = await this.db.query<{ id: string; destination: string; secret_hash: Buffer; attempts: number }>(
      `UPDATE verification_challenges SET attempts = attempts + 1
        WHERE id = (SELECT id FROM verification_challenges
                     WHERE operator_id = $1 AND user_id = $2 AND channel = 'phone' AND sent_at IS NOT NULL
                       AND consumed_at IS NULL AND expires_at > $3 ORDER BY created_at DESC LIMIT 1)
        RETURNING id, destination, secret_hash, attempts`,
      [operatorId, userId, now],
    );
    const challenge = rows[0];
    if (!challenge) {
      throw new RampartError('invalid_value', {
        field: 'code',
        provided: '[redacted]',
        expected: 'a code from a recent message; request a new one',
      });
    }
    if (challenge.attempts > this.limits.maxAttempts) {
      throw new RampartError('rate_limited', {
        retry_after: this.limits.phoneCodeTtlSeconds,
        limit: this.limits.maxAttempts,
        window: 'code',
      });
    }
    const candidate = digest(`${challenge.id}:${code}`);
    if (!timingSafeEqual(candidate, challenge.secret_hash)) {
      throw new RampartError('invalid_value', {
        field: 'code',
        provided: '[redacted]',
        expected: `the 6-digit code sent by SMS (${this.limits.maxAttempts - challenge.attempts} attempts left)`,
      });
    }
    await this.db.query('UPDATE verification_challenges SET consumed_at = $2 WHERE id = $1', [challenge.id, now]);
    return this.markVerified(operatorId, userId, 'phone', challenge.destination);
  }

  private markVerified(operatorId: string, userId: string, channel: 'email' | 'phone', destination: string) {
    const column = channel === 'email' ? 'email_verified_at' : 'phone_verified_at';
    return this.users.change(operatorId, userId, async (user) => {
      // The address changed after the message was sent: this proves nothing about the new one.
      if (user[channel] !== destination || user[column]) return null;
      return {
        set: { [column]: this.clock.now() },
        event: {
          type: 'gate.changed',
          data: { gate: channel === 'email' ? 'email-verify' : 'phone-verify', completed: true },
        },
      };
    });
  }
}
