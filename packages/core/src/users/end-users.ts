import { RampartError } from '@rampart/errors';
import type { Clock } from '../clock.ts';
import { type EventLog, userSubject } from '../events/event-log.ts';
import type { Queryable, Store } from '../storage/database.ts';
import { normalisePhone } from './phone.ts';
import { changeLimits, presentLimits, type UserLimits } from './user-limits.ts';

export type KycStatus = 'not_started' | 'pending' | 'verified' | 'failed' | 'reverification_required';

export interface EndUser {
  operator_id: string;
  id: string;
  email: string | null;
  email_verified_at: Date | null;
  phone: string | null;
  phone_verified_at: Date | null;
  first_name: string | null;
  last_name: string | null;
  country: string | null;
  state: string | null;
  date_of_birth: string | null;
  kyc_status: KycStatus;
  kyc_reason: string | null;
  kyc_provider: string | null;
  kyc_applicant_id: string | null;
  kyc_attested: boolean;
  kyc_updated_at: Date | null;
  /** When the provider reached the verdict last applied (see `setKyc`). */
  kyc_verdict_at: Date | null;
  terms_version: string | null;
  terms_accepted_at: Date | null;
  blocked_at: Date | null;
  blocked_reason: string | null;
  /** The user's own limits (see `user-limits.ts`). */
  limits: UserLimits;
  created_at: Date;
  updated_at: Date;
}

export interface UserProfile {
  email?: string | null;
  phone?: string | null;
  first_name?: string | null;
  last_name?: string | null;
  country?: string | null;
  state?: string | null;
  date_of_birth?: string | null;
}

const USER_COLUMNS = `operator_id, id, email, email_verified_at, phone, phone_verified_at, first_name, last_name,
  country, state, to_char(date_of_birth, 'YYYY-MM-DD') AS date_of_birth, kyc_status, kyc_reason, kyc_provider,
  kyc_applicant_id, kyc_attested, kyc_updated_at, kyc_verdict_at, terms_version, terms_accepted_at, blocked_at, blocked_reason,
  limits, created_at, updated_at`;

const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,255}\.[^\s@]{2,63}$/;

function invalid(field: string, provided: unknown, expected: string): never {
  throw new RampartError('invalid_value', { field, provided, expected });
}

/** Validates and normalises profile fields; only fields present in the input are returned. */
export function normaliseProfile(input: UserProfile, existing?: EndUser): UserProfile {
  const out: UserProfile = {};
  if (input.email !== undefined) {
    if (input.email !== null && !EMAIL.test(input.email)) invalid('email', input.email, 'an email address');
    out.email = input.email === null ? null : input.email.trim().toLowerCase();
  }
  if (input.country !== undefined) {
    if (input.country !== null && !/^[A-Za-z]{2}$/.test(input.country))
      invalid('country', input.country, 'an ISO 3166-1 alpha-2 code such as US');
    out.country = input.country?.toUpperCase() ?? null;
  }
  if (input.state !== undefined) {
    if (input.state !== null && !/^[A-Za-z0-9]{1,3}$/.test(input.state))
      invalid('state', input.state, 'an ISO 3166-2 subdivision code such as NY');
    out.state = input.state?.toUpperCase() ?? null;
  }
  if (input.phone !== undefined) {
    const country = out.country !== undefined ? out.country : existing?.country;
    out.phone = input.phone === null ? null : normalisePhone(input.phone, country);
  }
  if (input.date_of_birth !== undefined) {
    const dob = input.date_of_birth;
    if (dob !== null) {
      const date = new Date(`${dob}T00:00:00Z`);
      if (!/^\d{4}-\d{2}-\d{2}$/.test(dob) || Number.isNaN(date.getTime()) || date.toISOString().slice(0, 10) !== dob)
        invalid('date_of_birth', dob, 'a date YYYY-MM-DD');
      if (date.getUTCFullYear() < 1900 || date > new Date()) invalid('date_of_birth', dob, 'a past date after 1900');
    }
    out.date_of_birth = dob;
  }
  for (const name of ['first_name', 'last_name'] as const) {
    const value = input[name];
    if (value === undefined) continue;
    if (value !== null && (value.trim().length === 0 || value.length > 100))
      invalid(name, value, '1 to 100 characters');
    out[name] = value?.trim() ?? null;
  }
  return out;
}

/**
 * End users of an operator, by the operator's own user id. Every query is scoped by
 * operator: another operator's user id is simply not found.
 */
export class EndUsers {
  private readonly db: Store;
  private readonly clock: Clock;
  private readonly events: EventLog;

  constructor(db: Store, clock: Clock, events: EventLog) {
    this.db = db;
    this.clock = clock;
    this.events = events;
  }

  async find(operatorId: string, userId: string, tx: Queryable = this.db): Promise<EndUser | undefined> {
    const { rows } = await tx.query<EndUser>({
      name: 'end-user-get',
      text: `SELECT ${USER_COLUMNS} FROM end_users WHERE operator_id = $1 AND id = $2`,
      values: [operatorId, userId],
    });
    return rows[0];
  }

  /**
   * The user, created (with nothing known about them yet) on first mention: sessions,
   * payments and adjustments may name users the operator never registered. One round trip.
   */
  async ensure(operatorId: string, userId: string, tx: Queryable = this.db): Promise<EndUser> {
    if (!/^[\x21-\x7e]{1,128}$/.test(userId)) invalid('user_id', userId, '1 to 128 printable ASCII characters');
    // The SELECT does not see the CTE's row (one snapshot): exactly one branch answers.
    const { rows } = await tx.query<EndUser>(
      `WITH inserted AS (
         INSERT INTO end_users (operator_id, id, created_at, updated_at) VALUES ($1, $2, $3, $3)
         ON CONFLICT DO NOTHING RETURNING ${USER_COLUMNS})
       SELECT * FROM inserted
       UNION ALL
       SELECT ${USER_COLUMNS} FROM end_users WHERE operator_id = $1 AND id = $2`,
      [operatorId, userId, this.clock.now()],
    );
    // A concurrent first mention committed after this statement's snapshot: read it now.
    return rows[0] ?? this.get(operatorId, userId, tx);
  }

  async get(operatorId: string, userId: string, tx: Queryable = this.db): Promise<EndUser> {
    const user = await this.find(operatorId, userId, tx);
    if (!user) throw new RampartError('user_not_found', { user_id: userId });
    return user;
  }

  /**
   * Creates or updates a user. A changed email or phone is no longer verified: the
   * verification was of the old address.
   */
  async upsert(operatorId: string, userId: string, input: UserProfile): Promise<{ user: EndUser; created: boolean }> {
    if (!/^[\x21-\x7e]{1,128}$/.test(userId)) invalid('id', userId, '1 to 128 printable ASCII characters');
    return this.db.transaction(async (tx) => {
      const now = this.clock.now();
      // The row first, then its lock: a lock taken on a user not yet there locks nothing,
      // and two first mentions at once would each create the user, each with its fields
      // alone. Here the second waits for the first, then updates what it created.
      const inserted = await tx.query(
        `INSERT INTO end_users (operator_id, id, created_at, updated_at) VALUES ($1, $2, $3, $3)
         ON CONFLICT DO NOTHING`,
        [operatorId, userId, now],
      );
      const locked = await tx
        .query<EndUser>(`SELECT ${USER_COLUMNS} FROM end_users WHERE operator_id = $1 AND id = $2 FOR UPDATE`, [
          operatorId,
          userId,
        ])
        .then((r) => r.rows[0]!);
      const existing = inserted.rowCount === 1 ? undefined : locked;
      const profile = normaliseProfile(input, existing);
      const merged = { ...existing, ...profile };
      const emailChanged = existing !== undefined && profile.email !== undefined && profile.email !== existing.email;
      const phoneChanged = existing !== undefined && profile.phone !== undefined && profile.phone !== existing.phone;
      const { rows } = await tx.query<EndUser>(
        `UPDATE end_users SET
           email = $3, phone = $4, first_name = $5, last_name = $6, country = $7, state = $8,
           date_of_birth = $9, updated_at = $10,
           email_verified_at = CASE WHEN $11 THEN NULL ELSE email_verified_at END,
           phone_verified_at = CASE WHEN $12 THEN NULL ELSE phone_verified_at END
         WHERE operator_id = $1 AND id = $2
         RETURNING ${USER_COLUMNS}`,
        [
          operatorId,
          userId,
          merged.email ?? null,
          merged.phone ?? null,
          merged.first_name ?? null,
          merged.last_name ?? null,
          merged.country ?? null,
          merged.state ?? null,
          merged.date_of_birth ?? null,
          now,
          emailChanged,
          phoneChanged,
        ],
      );
      const user = rows[0]!;
      await this.events.record(tx, {
        operatorId,
        type: existing ? 'user.updated' : 'user.created',
        subjectId: userSubject(operatorId, userId),
        data: { user_id: userId },
      });
      return { user, created: existing === undefined };
    });
  }

  /** Applies one change to a user under a row lock, records its event, returns the new row. */
  async change(
    operatorId: string,
    userId: string,
    apply: (user: EndUser, tx: Queryable) => Promise<{ set: Record<string, unknown>; event?: EventSpec } | null>,
  ): Promise<EndUser> {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<EndUser>(
        `SELECT ${USER_COLUMNS} FROM end_users WHERE operator_id = $1 AND id = $2 FOR UPDATE`,
        [operatorId, userId],
      );
      const user = rows[0];
      if (!user) throw new RampartError('user_not_found', { user_id: userId });
      const change = await apply(user, tx);
      if (!change) return user;
      const entries = Object.entries({ ...change.set, updated_at: this.clock.now() });
      const assignments = entries.map(([column], i) => `${column} = $${i + 3}`).join(', ');
      const updated = await tx.query<EndUser>(
        `UPDATE end_users SET ${assignments} WHERE operator_id = $1 AND id = $2 RETURNING ${USER_COLUMNS}`,
        [operatorId, userId, ...entries.map(([, value]) => value)],
      );
      if (change.event) {
        await this.events.record(tx, {
          operatorId,
          type: change.event.type,
          subjectId: userSubject(operatorId, userId),
          data: { user_id: userId, ...change.event.data },
        });
      }
      return updated.rows[0]!;
    });
  }

  block(operatorId: string, userId: string, reason: string | null): Promise<EndUser> {
    return this.change(operatorId, userId, async (user) =>
      user.blocked_at
        ? null
        : {
            set: { blocked_at: this.clock.now(), blocked_reason: reason },
            event: { type: 'user.blocked', data: { reason } },
          },
    );
  }

  unblock(operatorId: string, userId: string): Promise<EndUser> {
    return this.change(operatorId, userId, async (user) =>
      user.blocked_at
        ? { set: { blocked_at: null, blocked_reason: null }, event: { type: 'user.unblocked', data: {} } }
        : null,
    );
  }

  /**
   * Changes the user's own limits (see `changeLimits`): tighter at once, looser after
   * `delayMs`. Payments check them under the same row lock, so a limit lowered here
   * holds for every payment recorded after it.
   */
  setLimits(operatorId: string, userId: string, patch: unknown, delayMs: number): Promise<EndUser> {
    return this.change(operatorId, userId, async (user) => {
      const now = this.clock.now();
      const limits = changeLimits(user.limits, patch, now, delayMs);
      if (JSON.stringify(limits) === JSON.stringify(user.limits)) return null;
      return {
        set: { limits: JSON.stringify(limits) },
        event: { type: 'user.limits_changed', data: { limits: presentLimits(limits, now) } },
      };
    });
  }

  /**
   * The user a KYC provider's applicant belongs to, among users of `modes` (those the
   * provider serves); `user_not_found` for any other.
   */
  async kycApplicant(
    provider: string,
    applicantId: string,
    modes: readonly string[],
  ): Promise<{ operator_id: string; id: string }> {
    const { rows } = await this.db.query<{ operator_id: string; id: string }>(
      `SELECT u.operator_id, u.id FROM end_users u JOIN operators o ON o.id = u.operator_id
        WHERE u.kyc_provider = $1 AND u.kyc_applicant_id = $2 AND o.mode = ANY($3::text[])`,
      [provider, applicantId, modes],
    );
    const user = rows[0];
    if (!user) throw new RampartError('user_not_found', { applicant_id: applicantId });
    return user;
  }

  /** Moves KYC status; one place so every change emits `kyc.status_changed`. */
  setKyc(
    operatorId: string,
    userId: string,
    next: {
      status: KycStatus;
      reason?: string | null;
      provider?: string;
      applicantId?: string;
      attested?: boolean;
      /**
       * The provider's verdict: decided under the user's lock, it yields to the operator's
       * attestation, unless it ends an attested verification (a rejection, or a request
       * to verify again).
       */
      fromProvider?: boolean;
      /** When the provider reached this verdict: one older than the verdict last applied is not applied. */
      verdictAt?: string;
    },
  ): Promise<EndUser> {
    return this.change(operatorId, userId, async (user) => {
      if (
        next.fromProvider &&
        user.kyc_attested &&
        !(user.kyc_status === 'verified' && ['failed', 'reverification_required'].includes(next.status))
      )
        return null;
      const verdictAt = next.verdictAt === undefined ? undefined : new Date(next.verdictAt);
      if (verdictAt && user.kyc_verdict_at && verdictAt.getTime() < user.kyc_verdict_at.getTime()) return null;
      const set: Record<string, unknown> = {
        kyc_status: next.status,
        kyc_reason: next.reason ?? null,
        kyc_updated_at: this.clock.now(),
      };
      if (next.provider !== undefined) set['kyc_provider'] = next.provider;
      if (next.applicantId !== undefined) set['kyc_applicant_id'] = next.applicantId;
      if (next.attested !== undefined) set['kyc_attested'] = next.attested;
      if (verdictAt && !Number.isNaN(verdictAt.getTime())) set['kyc_verdict_at'] = verdictAt;
      if (user.kyc_status === next.status && (user.kyc_reason ?? null) === (next.reason ?? null) && !next.applicantId)
        return null;
      return {
        set,
        event: {
          type: 'kyc.status_changed',
          data: { from: user.kyc_status, to: next.status, reason: next.reason ?? null },
        },
      };
    });
  }
}

export interface EventSpec {
  type: Parameters<EventLog['record']>[1]['type'];
  data: Record<string, unknown>;
}
