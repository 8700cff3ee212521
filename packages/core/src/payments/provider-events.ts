import { errorCodeForAchReturn, isRampartError, RampartError } from '@rampart/errors';
import type { Clock } from '../clock.ts';
import type { KycProvider } from '../kyc/kyc.ts';
import { KEY_MODES, type KeyMode } from '../operators/api-keys.ts';
import { type PurgeBatches, purgeInBatches, type Queryable, type Store } from '../storage/database.ts';
import type { EndUsers } from '../users/end-users.ts';
import { paymentStore } from './payment-store.ts';
import { assertDisputable, changesNothing, onlyConfirms, type Payments } from './payments.ts';
import type { ProviderNotice } from './provider.ts';

type Verdict = Extract<ProviderNotice['subject'], { type: 'kyc' }>;

const verdictKey = (provider: string, applicantId: string) => `${provider}\n${applicantId}`;

/** After this many tries an event that cannot be applied (e.g. for an unknown payment) is set aside. */
export const MAX_ATTEMPTS = 20;

/** Events applied per transaction by `processPending`. */
export const PENDING_BATCH = 50;

/**
 * Marks processed every unprocessed notice whose payment now has the status it
 * reports. One index lookup per notice (a subquery, not a join the planner could turn
 * into a scan of every payment).
 */
export const SETTLE_CONFIRMING_SQL = `WITH confirming AS (
  SELECT e.provider, e.event_id FROM provider_events e
   WHERE e.processed_at IS NULL
     AND (SELECT p.status FROM payments p WHERE p.provider = e.provider AND p.provider_ref = e.payment_ref)
         = e.confirms_status
   FOR UPDATE OF e SKIP LOCKED)
UPDATE provider_events e SET processed_at = $1, attempts = e.attempts + 1
  FROM confirming c WHERE e.provider = c.provider AND e.event_id = c.event_id`;

/** A recorded provider event not (yet) applied, as the CLI shows it. */
export interface UnappliedProviderEvent {
  provider: string;
  event_id: string;
  received_at: Date;
  attempts: number;
  last_error: string | null;
  /** Tried `MAX_ATTEMPTS` times: no longer retried until someone asks (`retryProviderEvent`). */
  set_aside: boolean;
}

/**
 * Events recorded but not applied, oldest first: those still being retried and those
 * set aside (e.g. a webhook about a payment this Rampart does not know). Provider
 * events belong to no operator until applied, so this is for whoever runs Rampart.
 */
export async function unappliedProviderEvents(
  db: Queryable,
  filter: { setAsideOnly?: boolean; limit?: number } = {},
): Promise<UnappliedProviderEvent[]> {
  const { rows } = await db.query<UnappliedProviderEvent>(
    `SELECT provider, event_id, received_at, attempts, last_error, attempts >= $1 AS set_aside
       FROM provider_events
      WHERE processed_at IS NULL AND (NOT $2 OR attempts >= $1)
      ORDER BY seq LIMIT $3`,
    [MAX_ATTEMPTS, filter.setAsideOnly ?? false, Math.min(Math.max(filter.limit ?? 100, 1), 1000)],
  );
  return rows;
}

/**
 * Puts an unapplied event back in line with a fresh count of tries (after what stopped
 * it was put right). False when there is no such unapplied event.
 */
export async function retryProviderEvent(db: Queryable, provider: string, eventId: string): Promise<boolean> {
  const { rowCount } = await db.query(
    'UPDATE provider_events SET attempts = 0 WHERE provider = $1 AND event_id = $2 AND processed_at IS NULL',
    [provider, eventId],
  );
  return rowCount === 1;
}

/**
 * Inbound provider webhooks. `record` makes a notice durable (deduplicated by the
 * provider's event id) and is all that happens before the 2xx; `processPending`
 * applies recorded notices. Application is idempotent (the state machine refuses to
 * move backwards, ledger postings carry references), so a notice applied again after
 * a crash changes nothing: each event takes effect once.
 */
export class ProviderEvents {
  private readonly db: Store;
  private readonly clock: Clock;
  private readonly payments: Payments;
  private readonly users: EndUsers;
  private readonly serves: (mode: KeyMode, provider: string) => boolean;
  private readonly kycProviders: ReadonlyMap<string, KycProvider>;

  constructor(deps: {
    db: Store;
    clock: Clock;
    payments: Payments;
    users: EndUsers;
    /**
     * Whether a provider serves a mode. A notice applies only to a payment or user of a
     * mode its provider serves: whatever a sandbox says (its webhook secrets are public)
     * reaches no live payment or live user, even one that reached the sandbox before it
     * served test mode alone.
     */
    serves: (mode: KeyMode, provider: string) => boolean;
    /** The KYC providers, asked for an applicant's current verdict when one of their webhooks comes. */
    kycProviders?: readonly KycProvider[];
  }) {
    this.db = deps.db;
    this.clock = deps.clock;
    this.payments = deps.payments;
    this.users = deps.users;
    this.serves = deps.serves;
    this.kycProviders = new Map((deps.kycProviders ?? []).map((p) => [p.id, p]));
  }

  /**
   * Makes a notice durable: `duplicate` for a redelivery of an event already recorded,
   * `settled` for one that tells of a payment already as it says (most webhooks confirm
   * what the provider's answer applied: recorded as processed in the same statement,
   * see `changesNothing`), otherwise `recorded`, for `processPending` to apply.
   */
  async record(provider: string, notice: ProviderNotice): Promise<'recorded' | 'settled' | 'duplicate'> {
    const subject = notice.subject;
    // `changesNothing`, asked in SQL: a payment with this provider reference already has this status.
    const confirms =
      subject.type === 'payment' && onlyConfirms(subject.outcome)
        ? [subject.providerRef, subject.outcome.status]
        : [null, null];
    const { rows } = await this.db.query<{ settled: boolean }>(
      `INSERT INTO provider_events (provider, event_id, notice, received_at, processed_at, attempts, payment_ref,
         confirms_status)
       SELECT $1, $2, $3::jsonb, $4::timestamptz, CASE WHEN settled THEN $4::timestamptz END, CASE WHEN settled THEN 1 ELSE 0 END,
              $5, $6
         FROM (SELECT EXISTS (SELECT 1 FROM payments WHERE provider = $1 AND provider_ref = $5 AND status = $6)) AS s(settled)
       ON CONFLICT (provider, event_id) DO NOTHING
       RETURNING processed_at IS NOT NULL AS settled`,
      [provider, notice.eventId, JSON.stringify(notice), this.clock.now(), ...confirms],
    );
    if (!rows[0]) return 'duplicate';
    return rows[0].settled ? 'settled' : 'recorded';
  }

  /**
   * Settles the unprocessed events that now only confirm their payment (it has
   * reached the status they report since they were recorded: the webhook overtook the
   * provider's answer), all in one statement, then applies the others, oldest first.
   * Safe on any number of nodes at once. Returns how many it settled or applied: a
   * full batch means more may be waiting.
   */
  async processPending(batch = PENDING_BATCH): Promise<number> {
    const now = this.clock.now();
    const settled = await this.db.query(SETTLE_CONFIRMING_SQL, [now]);
    return (settled.rowCount ?? 0) + (await this.applyPending(batch));
  }

  /**
   * Drops the payloads of the webhooks applied more than `olderThanMs` before `now`
   * (`RAMPART_PROVIDER_WEBHOOK_RETENTION_DAYS`). Each row stays with its event id, so a
   * redelivery however late is still a duplicate, never news. Webhooks not applied
   * (waiting, or set aside after their attempts) keep their payloads, however old. In
   * batches (`purgeInBatches`). Returns how many payloads went.
   */
  purgePayloads(now: Date, olderThanMs: number, batches: PurgeBatches = {}): Promise<number> {
    const cutoff = new Date(now.getTime() - olderThanMs);
    return purgeInBatches(batches, (batch) =>
      this.db.query(
        `UPDATE provider_events SET notice = NULL
          WHERE ctid = ANY(ARRAY(
            SELECT ctid FROM provider_events
             WHERE notice IS NOT NULL AND received_at < $1 AND processed_at < $1
             ORDER BY received_at LIMIT $2 FOR UPDATE SKIP LOCKED))`,
        [cutoff, batch],
      ),
    );
  }

  private async applyPending(batch: number): Promise<number> {
    const verdicts = await this.currentVerdicts(batch);
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ provider: string; event_id: string; notice: ProviderNotice; attempts: number }>(
        `SELECT provider, event_id, notice, attempts FROM provider_events
          WHERE processed_at IS NULL AND attempts < $1
          ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED`,
        [MAX_ATTEMPTS, batch],
      );
      let applied = 0;
      for (const row of rows) {
        try {
          await this.apply(row.provider, row.notice, verdicts);
          await tx.query(
            'UPDATE provider_events SET processed_at = $3, attempts = attempts + 1 WHERE provider = $1 AND event_id = $2',
            [row.provider, row.event_id, this.clock.now()],
          );
          applied++;
        } catch (error) {
          const message = isRampartError(error) ? error.code : error instanceof Error ? error.message : String(error);
          await tx.query(
            'UPDATE provider_events SET attempts = attempts + 1, last_error = $3 WHERE provider = $1 AND event_id = $2',
            [row.provider, row.event_id, message.slice(0, 500)],
          );
        }
      }
      return applied;
    });
  }

  /**
   * The verdicts KYC providers have now for the applicants of the KYC webhooks waiting to
   * be applied, asked before the batch takes its row locks: a slow provider then holds no
   * transaction open (and with it the horizon of `GET /v1/events`). A failed question is
   * kept as its error, for the webhook to be tried again later.
   */
  private async currentVerdicts(batch: number): Promise<Map<string, Verdict | null | Error>> {
    const verdicts = new Map<string, Verdict | null | Error>();
    if (this.kycProviders.size === 0) return verdicts;
    const { rows } = await this.db.query<{ provider: string; applicant: string }>(
      `SELECT DISTINCT provider, notice->'subject'->>'applicantId' AS applicant FROM (
         SELECT provider, notice FROM provider_events WHERE processed_at IS NULL AND attempts < $1
          ORDER BY seq LIMIT $2) waiting
        WHERE notice->'subject'->>'type' = 'kyc'`,
      [MAX_ATTEMPTS, batch],
    );
    for (const { provider, applicant } of rows) {
      const kyc = this.kycProviders.get(provider);
      if (!kyc) continue;
      verdicts.set(
        verdictKey(provider, applicant),
        await kyc
          .verdict(applicant)
          .catch((error: unknown) => (error instanceof Error ? error : new Error(String(error)))),
      );
    }
    return verdicts;
  }

  private async apply(
    provider: string,
    notice: ProviderNotice,
    verdicts: ReadonlyMap<string, Verdict | null | Error> = new Map(),
  ): Promise<void> {
    const subject = notice.subject;
    switch (subject.type) {
      case 'ignored':
        return;
      case 'kyc': {
        const modes = KEY_MODES.filter((mode) => this.serves(mode, provider));
        const user = await this.users.kycApplicant(provider, subject.applicantId, modes);
        // Webhooks can arrive out of order: a late "verified" must not undo a "failed" that
        // came first. What is applied is the verdict the provider has now (asked before
        // the batch began, or now for a webhook that came since).
        const key = verdictKey(provider, subject.applicantId);
        const current = verdicts.has(key)
          ? verdicts.get(key)
          : await this.kycProviders.get(provider)?.verdict(subject.applicantId);
        if (current instanceof Error) throw current;
        if (current === null) return;
        const { status, reason, at } = current ?? subject;
        await this.users.setKyc(user.operator_id, user.id, {
          status,
          reason,
          attested: false,
          fromProvider: true,
          ...(at ? { verdictAt: at } : {}),
        });
        return;
      }
      case 'payment': {
        // By the provider's id, or by ours when the create call timed out before Rampart learnt theirs.
        const payment = await paymentStore.byProviderRefOrId(
          this.db,
          provider,
          subject.providerRef,
          subject.paymentId ?? null,
        );
        if (!payment || !this.serves(payment.mode, provider))
          throw new RampartError('payment_not_found', { provider, provider_ref: subject.providerRef });
        // Most webhooks confirm what the provider's answer already applied: no transaction for those.
        if (changesNothing(payment, subject.outcome)) return;
        await this.payments.applyOutcome(
          payment.operator_id,
          payment.id,
          subject.outcome,
          `${provider} webhook ${notice.eventId}`,
        );
        return;
      }
      case 'payment_return': {
        const payment = await paymentStore.byProviderRef(this.db, provider, subject.providerRef);
        if (!payment || !this.serves(payment.mode, provider))
          throw new RampartError('payment_not_found', { provider, provider_ref: subject.providerRef });
        // Whether it reverses or fails the payment is decided under its lock (see `applyAchReturn`).
        const code = errorCodeForAchReturn(subject.returnCode);
        await this.payments.applyAchReturn(payment.operator_id, payment.id, {
          providerRef: subject.providerRef,
          returnCode: subject.returnCode,
          failure: { code, details: { return_code: subject.returnCode, code, description: subject.description } },
        });
        return;
      }
      case 'dispute': {
        const payment = await paymentStore.byProviderRef(this.db, provider, subject.providerRef);
        if (!payment || !this.serves(payment.mode, provider))
          throw new RampartError('payment_not_found', { provider, provider_ref: subject.providerRef });
        const news = {
          disputeId: subject.disputeId,
          status: subject.status,
          reason: subject.reason,
          amount: BigInt(subject.amount),
        };
        // Refunds are counted under the payment's lock (see `applyDispute`); here what is plain already.
        assertDisputable(payment, news, news.status === 'lost' ? payment.amount_refunded : 0n);
        // Only a payment the provider completed can be disputed: one Rampart has not heard
        // that of yet (its webhook is late, or failed and waits for a retry) is completed
        // first, on the provider's word, so that a lost dispute finds the credit to reverse.
        if (!changesNothing(payment, subject.outcome))
          await this.payments.applyOutcome(
            payment.operator_id,
            payment.id,
            subject.outcome,
            `${provider} webhook ${notice.eventId}`,
          );
        // Whether it reverses the payment is decided under its lock (see `applyDispute`).
        await this.payments.applyDispute(payment.operator_id, payment.id, news);
        return;
      }
    }
  }
}
