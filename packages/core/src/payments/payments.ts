import { declineCodeForReason, type ErrorCode, isRampartError, RampartError } from '@rampart/errors';
import type { Clock } from '../clock.ts';
import type { SecretBox } from '../crypto/secret-box.ts';
import type { EventType } from '../events/catalog.ts';
import type { EventLog } from '../events/event-log.ts';
import { enforceGates, enforceStanding, type GateContext } from '../gates/gates.ts';
import { canonicalJson } from '../idempotency/idempotency-keys.ts';
import type { IdGenerator } from '../ids.ts';
import { type Ledger, ledgerError } from '../ledger/ledger.ts';
import {
  type Currency,
  formatAmount,
  getAsset,
  MAX_AMOUNT,
  MAX_AMOUNT_INPUT_LENGTH,
  parseAmount,
} from '../money/index.ts';
import type { KeyMode } from '../operators/api-keys.ts';
import { type Action, type OperatorSettings, OperatorSettingsStore } from '../settings/operator-settings.ts';
import type { Queryable, Store } from '../storage/database.ts';
import { EARLIER_NODE_NAMES, type Notifications } from '../storage/notifications.ts';
import { deepFreeze, ReadCache } from '../storage/read-cache.ts';
import type { EndUser } from '../users/end-users.ts';
import {
  LIMIT_PERIODS,
  type LimitInForce,
  type LimitPeriod,
  limitsInForce,
  type UserLimits,
} from '../users/user-limits.ts';
import { type ApprovalClient, decide } from './approval.ts';
import { Discrepancies, presentDiscrepancy } from './discrepancies.ts';
import { type FeeRule, feeOf, feeRuleOf } from './fees.ts';
import { type Payment, type PaymentDispute, paymentStore } from './payment-store.ts';
import {
  FALLBACK_ERRORS,
  NEVER_SENT,
  type PaymentKind,
  type PaymentMethod,
  type PaymentProvider,
  type ProviderOutcome,
  type ProviderRequest,
  type ProvidersByMode,
} from './provider.ts';
import { assertRefundable, type CreateRefund, feeGivenBack, refundAmount, refundableNow } from './refunds.ts';
import { reviewStore } from './review-store.ts';
import { assertTransition, canTransition, contradicts, type PaymentStatus } from './state-machine.ts';

export interface CreatePayment {
  operatorId: string;
  mode: 'test' | 'live';
  kind: Action;
  method: PaymentMethod;
  /** Decimal string in the currency's major unit ("25.00"). */
  amount: string;
  currency: string;
  network?: string | null;
  /** Ask for one provider; otherwise the operator's order is followed, with fallback. */
  provider?: string;
  sessionId?: string | null;
  reference?: string | null;
  idempotencyKey?: string | null;
  instrument?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
  returnUrl?: string | null;
  /** The user, the operator's settings and the user's location: see Compliance. */
  gates: GateContext;
}

/** A payment's asset, amount, limits and fee, as `validate` found them. */
interface Validated {
  currency: Currency;
  network: string | null;
  amount: bigint;
  balances: 'ledger' | 'record';
  /** The user's daily limit for this action and currency, checked at insert under their lock. */
  daily: bigint | undefined;
  /** The operator's fee rule for this action and currency (null: none), and its fee on the amount. */
  feeRule: FeeRule | null;
  fee: bigint;
}

/** What pricing a payment reads of it: its kind, amount and asset. */
type Priced = Pick<CreatePayment, 'kind' | 'amount' | 'currency' | 'network'>;

/** Whether `existing` is the payment this request asks for: what it moves, for whom, and how. */
function sameRequest(existing: Payment, input: CreatePayment, p: Validated): boolean {
  return (
    existing.refund_of === null &&
    existing.kind === input.kind &&
    existing.method === input.method &&
    existing.user_id === input.gates.user.id &&
    existing.session_id === (input.sessionId ?? null) &&
    existing.reference === (input.reference ?? null) &&
    existing.currency === p.currency.code &&
    existing.network === p.network &&
    existing.amount === p.amount
  );
}

export const CLEARING_SHARDS = 16;

/** A payment as polling reads it. */
export type PaymentResource = Awaited<ReturnType<typeof paymentStore.getWithTimeline>>;

/** What the payment channel carries: JSON arrays of these (the changes of one or more committed transactions). */
export interface PaymentNotice {
  operator_id: string;
  payment_id: string;
  user_id: string;
  status: PaymentStatus;
  /** False for changes that leave the status as it was (a provider reference, a next step). */
  status_changed: boolean;
}

export function parseNotices(payload: string): PaymentNotice[] {
  try {
    const parsed: unknown = JSON.parse(payload);
    return (Array.isArray(parsed) ? parsed : [parsed]).filter(
      (n): n is PaymentNotice => typeof n?.operator_id === 'string' && typeof n?.payment_id === 'string',
    );
  } catch {
    return [];
  }
}

/** A NOTIFY payload must stay under 8000 bytes (ids are ASCII: characters are bytes). */
const NOTIFY_PAYLOAD_BYTES = 7_500;

const resourceKey = (n: { operator_id: string; payment_id: string }) => `${n.operator_id}/${n.payment_id}`;

/**
 * How long another node may serve a cached payment should this node die between a
 * commit and its notice (notices normally arrive within milliseconds).
 */
const RESOURCE_TTL_MS = 2_000;

/**
 * A payment still `created` after this long was abandoned mid-create (the node died
 * between recording it and hearing the provider): well past any approval and provider
 * timeout, so reconciliation may ask the provider about it.
 */
const ABANDONED_CREATE_MS = 5 * 60_000;

/** Pause before the one retry of a provider call that failed before anything moved. */
const RETRY_PAUSE_MS = 50;

/** A stable shard for a payment id (FNV-1a): the same payment always uses the same clearing account. */
export function clearingShard(paymentId: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < paymentId.length; i++) hash = Math.imul(hash ^ paymentId.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % CLEARING_SHARDS;
}

/** PostgreSQL NOTIFY channel carrying every payment status change. */
export const PAYMENT_STATUS_CHANNEL = 'rampart_payment_status';

/** Withdrawal holds outlive any provider's settlement; an expired hold frees the money. */
const HOLD_TTL_MS = 7 * 86_400_000;
/** Kinds that pay out of the user's balance, held first: withdrawals, sells and refunds. */
const PAY_OUT: readonly PaymentKind[] = ['withdrawal', 'sell', 'refund'];

function failureOf(kind: PaymentKind): ErrorCode {
  if (kind === 'refund') return 'refund_failed';
  return PAY_OUT.includes(kind) ? 'withdrawal_failed' : 'deposit_failed';
}

/**
 * Payments: deposits, withdrawals, buys and sells. Every change of status goes
 * through `transition`, which checks the state machine, records the timeline and the
 * event, and moves the money — all in one transaction with the payment row locked.
 */
export class Payments {
  private readonly db: Store;
  private readonly ids: IdGenerator;
  private readonly clock: Clock;
  private readonly events: EventLog;
  private readonly ledger: Ledger;
  /** Each mode's own providers: test money never reaches a live provider, nor live money the sandbox. */
  private readonly providers: Readonly<Record<KeyMode, ReadonlyMap<string, PaymentProvider>>>;
  private readonly approvals: ApprovalClient;
  /** Seals what a withdrawal under review will need when approved (its destination). */
  private readonly reviewBox: SecretBox;
  private readonly settings: OperatorSettingsStore;
  /** What polling reads, per node; dropped on every change (see `inTransaction`). */
  private readonly resources: ReadCache<PaymentResource>;
  /** Providers contradicting how payments ended, for the operator to resolve. */
  readonly discrepancies: Discrepancies;

  constructor(deps: {
    db: Store;
    ids: IdGenerator;
    clock: Clock;
    events: EventLog;
    ledger: Ledger;
    providers: ProvidersByMode;
    approvals: ApprovalClient;
    reviewBox: SecretBox;
    settings?: OperatorSettingsStore;
    /** Other nodes' payment changes; without it nothing is cached. */
    notifications?: Notifications;
  }) {
    this.db = deps.db;
    this.ids = deps.ids;
    this.clock = deps.clock;
    this.events = deps.events;
    this.ledger = deps.ledger;
    const byId = (providers: readonly PaymentProvider[] = []) => new Map(providers.map((p) => [p.id, p]));
    this.providers = { test: byId(deps.providers.test), live: byId(deps.providers.live) };
    this.approvals = deps.approvals;
    this.reviewBox = deps.reviewBox;
    this.settings = deps.settings ?? new OperatorSettingsStore(deps.db);
    this.discrepancies = new Discrepancies(deps);
    this.resources = new ReadCache<PaymentResource>({
      ttlMs: RESOURCE_TTL_MS,
      now: () => deps.clock.now().getTime(),
      ...(deps.notifications ? { notifications: deps.notifications } : {}),
    });
    void deps.notifications?.on(PAYMENT_STATUS_CHANNEL, (payload) => {
      for (const notice of parseNotices(payload)) this.resources.invalidate(resourceKey(notice));
    });
  }

  /** The providers this node reaches in `mode`, by id. */
  offered(mode: KeyMode): { has(provider: string): boolean } {
    return this.providers[mode];
  }

  /** Changes made in a transaction, announced once it has committed. */
  private readonly announce = new WeakMap<Queryable, PaymentNotice[]>();

  /**
   * Runs `work` in a transaction, then tells every node about the payments it changed:
   * this node's cache at once, the others (and WebSocket streams) by one PostgreSQL
   * NOTIFY. A notice lost to a crash right after commit costs a stream an update and
   * leaves other nodes' cache stale for at most `RESOURCE_TTL_MS`; REST reads after
   * that, and webhooks, remain the record.
   */
  private async inTransaction<T>(
    work: (tx: Queryable) => Promise<T>,
    options: { oneStatement?: boolean } = {},
  ): Promise<T> {
    let changes: PaymentNotice[] = [];
    const run = (tx: Queryable) => {
      changes = [];
      this.announce.set(tx, changes);
      return work(tx);
    };
    // Work that is a single statement is a transaction by itself: no BEGIN and COMMIT
    // round trips (a handle of its own, so that its announcements are its own).
    const result = options.oneStatement
      ? await run({ query: (text, values) => this.db.query(text, values) })
      : await this.db.transaction(run);
    if (changes.length > 0) {
      for (const change of changes) this.resources.invalidate(resourceKey(change));
      this.notify(changes);
    }
    return result;
  }

  /** Notices waiting for the end of this turn of the event loop. */
  private unsent: PaymentNotice[] = [];

  /**
   * Sends notices of every transaction that committed in this turn of the event loop as
   * one NOTIFY (a payload stays under PostgreSQL's 8000 bytes): under load, one
   * statement for many payments instead of one per transaction.
   */
  private notify(changes: readonly PaymentNotice[]): void {
    if (this.unsent.length === 0) {
      setImmediate(() => {
        const batch = this.unsent.map((notice) => JSON.stringify(notice));
        this.unsent = [];
        const send = (items: string[]) =>
          this.db.query('SELECT pg_notify($1, $2)', [PAYMENT_STATUS_CHANNEL, `[${items.join(',')}]`]).catch(() => {});
        let chunk: string[] = [];
        let size = 2;
        for (const item of batch) {
          if (chunk.length > 0 && size + item.length + 1 > NOTIFY_PAYLOAD_BYTES) {
            send(chunk);
            chunk = [];
            size = 2;
          }
          chunk.push(item);
          size += item.length + 1;
        }
        send(chunk);
      });
    }
    this.unsent.push(...changes);
  }

  /**
   * Records, for after the commit, that `payment` changed. Announced after commit (see
   * `inTransaction`): a NOTIFY inside the transaction would serialise every payment
   * commit on PostgreSQL's notification queue lock.
   */
  private announced(tx: Queryable, payment: Payment, statusChanged: boolean): void {
    this.announce.get(tx)?.push({
      operator_id: payment.operator_id,
      payment_id: payment.id,
      user_id: payment.user_id,
      status: payment.status,
      status_changed: statusChanged,
    });
  }

  byIdempotencyKey(operatorId: string, mode: string, idempotencyKey: string) {
    return paymentStore.byIdempotencyKey(this.db, operatorId, mode, idempotencyKey);
  }

  get(operatorId: string, id: string) {
    return paymentStore.get(this.db, operatorId, id);
  }

  byReference(operatorId: string, reference: string) {
    return paymentStore.byReference(this.db, operatorId, reference);
  }

  list(operatorId: string, filter: Parameters<typeof paymentStore.list>[2]) {
    return paymentStore.list(this.db, operatorId, filter);
  }

  /** The payment with its timeline, as polling reads it: from this node's cache when it can be trusted. */
  getWithTimeline(operatorId: string, id: string): Promise<PaymentResource> {
    return this.resources.get(resourceKey({ operator_id: operatorId, payment_id: id }), async () =>
      deepFreeze(await paymentStore.getWithTimeline(this.db, operatorId, id)),
    );
  }

  timeline(paymentId: string) {
    return paymentStore.timeline(this.db, paymentId);
  }

  /**
   * What a payment of `amount` would cost the user before they make it: the operator's
   * fee, and what their balance would move by (a pay-in credits the amount less the fee,
   * a pay-out debits the amount and the fee). Checked as a create checks currency, amount
   * and limits; gates and balances are not (the create says).
   */
  async quote(operatorId: string, input: Priced) {
    const { currency, amount, fee } = this.validate(input, await this.settings.get(operatorId));
    const payOut = PAY_OUT.includes(input.kind);
    return {
      kind: input.kind,
      currency: currency.code,
      amount: formatAmount(amount, currency),
      fee: formatAmount(fee, currency),
      direction: payOut ? ('debit' as const) : ('credit' as const),
      net: formatAmount(payOut ? amount + fee : amount - fee, currency),
    };
  }

  /** Validates currency, amount and limits, in the order a client can fix them. */
  private validate(input: Priced, settings: OperatorSettings): Validated {
    const asset = getAsset(input.currency, input.network);
    const enabled = settings.currencies.filter((c) => c.currency === asset.currency.code);
    if (enabled.length === 0) throw new RampartError('currency_not_enabled', { currency: asset.currency.code });
    const pair = enabled.find((c) => c.network === asset.network);
    if (!pair)
      throw new RampartError('wallet_not_supported', { currency: asset.currency.code, network: input.network ?? null });
    if (input.kind === 'sell' && !settings.sell_enabled) throw new RampartError('offramp_not_enabled');
    const amount = parseAmount(input.amount, asset.currency);
    const { min, max, daily } = limitsOf(settings, input.kind, asset.currency);
    const details = (expected: string) => ({
      field: 'amount',
      provided: input.amount,
      expected,
      currency: asset.currency.code,
    });
    if (min !== undefined && amount < min)
      throw new RampartError('amount_below_minimum', details(`>= ${formatAmount(min, asset.currency)}`));
    if (max !== undefined && amount > max)
      throw new RampartError('amount_above_maximum', details(`<= ${formatAmount(max, asset.currency)}`));
    const feeRule = feeRuleOf(settings.fees[input.kind][asset.currency.code], asset.currency);
    const fee = feeOf(feeRule, amount);
    // A pay-in's fee comes out of what it credits: it must leave the user something. A
    // pay-out's is debited with it: together they must be an amount the ledger holds.
    if (!PAY_OUT.includes(input.kind) && fee >= amount)
      throw new RampartError('amount_below_minimum', details(`> ${formatAmount(fee, asset.currency)} (the fee)`));
    if (PAY_OUT.includes(input.kind) && amount + fee > MAX_AMOUNT)
      throw new RampartError('invalid_amount', {
        field: 'amount',
        provided: input.amount,
        expected: `at most ${formatAmount(MAX_AMOUNT - fee, asset.currency)}, with the fee of ${formatAmount(fee, asset.currency)}`,
      });
    return { currency: asset.currency, network: asset.network, amount, balances: pair.balances, daily, feeRule, fee };
  }

  /** Providers that are permitted (gates), configured and able to take this method and currency, in order. */
  private route(input: CreatePayment, currency: string, network: string | null): PaymentProvider[] {
    // Gates leave only providers this mode reaches (see `GateContext.offered`).
    const permitted = enforceGates(input.gates, input.kind, input.provider);
    const able = permitted
      .map((id) => this.providers[input.mode].get(id))
      .filter((p): p is PaymentProvider => p?.supports(input.kind, input.method, currency, network) === true);
    if (able.length === 0) {
      throw new RampartError('action_not_permitted', {
        action: input.kind,
        ...(input.provider ? { provider: input.provider } : {}),
        denyReason: `No provider offers ${input.method} for ${currency}`,
      });
    }
    return able;
  }

  async create(input: CreatePayment): Promise<Payment> {
    const { currency, network, amount, balances, daily, feeRule, fee } = this.validate(input, input.gates.settings);
    const route = this.route(input, currency.code, network);
    if (input.kind === 'deposit' && input.method === 'crypto') {
      // A user has one deposit address per asset and network; while a deposit to it is
      // open, asking again answers that deposit rather than a second one on the same address.
      const open = await paymentStore.openCryptoDeposit(
        this.db,
        input.operatorId,
        input.gates.user.id,
        currency.code,
        network,
      );
      if (open) return open;
    }
    const inserted = await this.insert(input, {
      currency,
      network,
      amount,
      balances,
      daily,
      feeRule,
      fee,
      provider: route[0]!.id,
    });
    // The same idempotency key as an earlier payment: that payment is the answer, untouched.
    if (inserted.replayed) return inserted.payment;
    let payment = inserted.payment;
    if (PAY_OUT.includes(input.kind)) {
      payment = await this.approve(payment, input);
    }
    return this.submit(payment, route, sendingOf(input));
  }

  private async insert(
    input: CreatePayment,
    p: Validated & { provider: string },
  ): Promise<{ payment: Payment; replayed: boolean }> {
    const now = this.clock.now();
    // The user's own limits as read with the user say whether there are any; their values
    // are read again under the lock below, where a change to them waits for this payment.
    const ownLimits = limitsInForce(input.gates.user.limits ?? {}, input.kind, p.currency.code, now).length > 0;
    // A deposit without a daily or own limit takes no lock and places no hold: it is the
    // insert alone, made on condition that the user still has no limit of its own here (a
    // first limit committed since the user was read sends it down the locked path).
    const unlocked = p.daily === undefined && !PAY_OUT.includes(input.kind) && !ownLimits;
    try {
      const payment =
        (unlocked ? await this.insertPayment(input, p, now, { unlocked: true }) : undefined) ??
        // Without the condition, the statement inserts or throws.
        (await this.insertPayment(input, p, now, { unlocked: false }))!;
      return { payment, replayed: false };
    } catch (error) {
      if (input.idempotencyKey && uniqueViolation(error) === 'payments_idempotency') {
        const existing = await paymentStore.byIdempotencyKey(
          this.db,
          input.operatorId,
          input.mode,
          input.idempotencyKey,
        );
        if (existing) {
          // The key's stored answer may have been purged since: a key used again for
          // another request is a conflict, never that request answered with this payment.
          if (!sameRequest(existing, input, p))
            throw new RampartError('idempotency_conflict', { idempotency_key: input.idempotencyKey });
          return { payment: existing, replayed: true };
        }
      }
      throw this.translateUniqueViolation(error, input);
    }
  }

  /**
   * The payment, its first timeline entry and `payment.created` (one statement), then a
   * pay-out's hold. `unlocked`: the statement alone, with no lock, inserting nothing (and
   * answering undefined) if the user has limits of their own on this action and currency
   * by then. Otherwise in a transaction that first locks the user and checks the limits.
   */
  private async insertPayment(
    input: CreatePayment,
    p: Validated & { provider: string },
    now: Date,
    { unlocked }: { unlocked: boolean },
  ): Promise<Payment | undefined> {
    const userId = input.gates.user.id;
    const payOut = PAY_OUT.includes(input.kind);
    return this.inTransaction(
      async (tx) => {
        if (!unlocked) {
          // One payment at a time per user: standing, limits and the balance are checked
          // under this lock, so a block committed since the gates were read is seen here.
          const { rows } = await tx.query<Standing & { limits: UserLimits }>({
            name: 'payment-lock-user-standing',
            text: `SELECT limits, ${STANDING_COLUMNS} FROM end_users WHERE operator_id = $1 AND id = $2 FOR UPDATE`,
            values: [input.operatorId, userId],
          });
          if (rows[0]) enforceStanding({ ...input.gates, user: { ...input.gates.user, ...rows[0] } }, input.kind);
          const own = limitsInForce(rows[0]?.limits ?? {}, input.kind, p.currency.code, now);
          await this.checkLimits(tx, input, p.currency, p.amount, p.daily, own);
        }
        const id = this.ids('pay');
        // The payment, its first timeline entry and `payment.created`: one statement.
        const values = [
          id,
          input.operatorId,
          input.mode,
          userId,
          input.sessionId ?? null,
          input.kind,
          input.method,
          p.provider,
          p.currency.code,
          p.network,
          p.amount,
          input.reference ?? null,
          input.idempotencyKey ?? null,
          JSON.stringify(redactInstrument(input.instrument ?? {})),
          null,
          JSON.stringify(input.metadata ?? {}),
          now,
          p.fee,
          p.feeRule === null ? null : JSON.stringify(p.feeRule),
        ];
        const created = {
          id,
          status: 'created',
          kind: input.kind,
          method: input.method,
          provider: p.provider,
          user_id: userId,
          amount: p.amount,
          fee: p.fee,
          currency: p.currency.code,
          network: p.network,
          reference: input.reference ?? null,
          failure_code: null,
        } as Payment;
        const events = this.events.recordingCte(
          input.operatorId,
          id,
          [{ type: 'payment.created', data: { payment: presentPaymentForEvent(created) } }],
          values.length + 1,
          unlocked ? 'EXISTS (SELECT 1 FROM inserted)' : undefined,
        );
        const { rows } = await tx.query<Payment>({
          name: unlocked ? 'payment-insert-unlocked' : 'payment-insert',
          text: `WITH inserted AS (
                   INSERT INTO payments (id, operator_id, mode, user_id, session_id, kind, method, provider, status,
                     currency, network, amount, reference, idempotency_key, destination, hold_id, metadata, created_at,
                     updated_at, fee, fee_rule)
                   SELECT $1, $2, $3, $4, $5, $6, $7, $8, 'created', $9, $10, $11, $12, $13, $14, $15, $16, $17, $17,
                          $18, $19
                   ${
                     unlocked
                       ? `WHERE NOT EXISTS (SELECT 1 FROM end_users
                                             WHERE operator_id = $2 AND id = $4 AND limits -> $6 -> $9 IS NOT NULL)`
                       : ''
                   }
                   RETURNING *),
                 transition AS (
                   INSERT INTO payment_transitions (payment_id, seq, from_status, to_status, cause, data, at)
                   SELECT id, 1, NULL, 'created', 'created', '{}', $17 FROM inserted),
                 ${events.sql}
               SELECT * FROM inserted`,
          values: [...values, ...events.values],
        });
        if (!rows[0]) return undefined;
        let payment = rows[0];
        if (payOut) {
          // The hold comes after the insert: a second withdrawal of the user meets the
          // first at the insert (`withdrawal_in_progress`) before it locks any account
          // the first one's completion needs — the other order deadlocks the two.
          const owner = { operatorId: input.operatorId, mode: input.mode };
          const from = await this.userAccount(tx, owner, userId, p.currency.code, p.balances);
          const to = await this.clearingAccount(tx, owner, p.provider, p.currency.code, id);
          // A pay-out's fee is held with it: the user is debited both when it is paid out.
          const hold = await this.ledger.hold(tx, {
            operatorId: input.operatorId,
            from,
            to,
            amount: p.amount + p.fee,
            reference: `${id}:hold`,
            expiresAt: new Date(now.getTime() + HOLD_TTL_MS),
            description: `${input.kind} ${id}`,
          });
          payment = await this.update(tx, id, { hold_id: hold.id });
        }
        this.announced(tx, payment, true);
        return payment;
      },
      { oneStatement: unlocked },
    );
  }

  private translateUniqueViolation(error: unknown, input: CreatePayment): unknown {
    const constraint = uniqueViolation(error);
    if (constraint === 'payments_one_withdrawal_in_progress')
      return new RampartError('withdrawal_in_progress', { user_id: input.gates.user.id });
    if (constraint === 'payments_reference')
      return new RampartError('resource_exists', { resource: 'payment', reference: input.reference });
    if (constraint === 'payments_idempotency')
      return new RampartError('idempotency_in_progress', { idempotency_key: input.idempotencyKey });
    return error;
  }

  private userAccount(
    tx: Queryable,
    { operatorId, mode }: AccountOwner,
    userId: string,
    currency: string,
    balances: 'ledger' | 'record',
  ) {
    // In `record` mode the operator owns the balance decision: the user account has no floor.
    return this.ledger.accountId(tx, {
      operatorId,
      mode,
      kind: 'user',
      ownerRef: userId,
      currency,
      floor: balances === 'ledger' ? 0n : null,
    });
  }

  /**
   * A provider's clearing account is touched by every payment through that provider,
   * and a row lock held to commit serialises them all. It is therefore split into
   * `CLEARING_SHARDS` accounts (`simcard#0` … `simcard#15`), picked by payment id: the
   * provider's position is the sum of its shards.
   */
  private clearingAccount(
    tx: Queryable,
    { operatorId, mode }: AccountOwner,
    provider: string,
    currency: string,
    paymentId: string,
  ) {
    return this.ledger.accountId(tx, {
      operatorId,
      mode,
      kind: 'provider_clearing',
      ownerRef: `${provider}#${clearingShard(paymentId)}`,
      currency,
    });
  }

  /**
   * Asks the operator to approve a withdrawal; a decline fails the payment and frees its
   * hold, a review keeps it `created` (held) until the operator decides by hand.
   */
  private async approve(payment: Payment, input: CreatePayment): Promise<Payment> {
    const approval = input.gates.settings.approval;
    if (!approval.url) {
      // No approval step: on at once, but `pending` before it is sent, as an approved one
      // is. `created` says the payout is still before its provider: a retry refused by the
      // gates fails it and frees its hold, which for a payout its provider may be paying
      // would let the user spend the money again.
      const moved = await this.moveIf(awaitingApproval, payment, 'pending', 'no approval step', {});
      return moved.applied ? moved.payment : this.asAnswer(moved.payment, moved.payment.provider);
    }
    await this.emit(this.db, payment, 'withdrawal.approval_requested', {});
    const answer = await this.approvals.ask({
      operatorId: payment.operator_id,
      mode: payment.mode,
      url: approval.url,
      timeoutMs: approval.timeout_ms,
      retries: approval.retries,
      body: {
        type: 'withdrawal.approval_requested',
        // An approver serving both modes can tell a test withdrawal from a live one.
        mode: payment.mode,
        payment_id: payment.id,
        user_id: payment.user_id,
        amount: payment.amount.toString(),
        currency: payment.currency,
        network: payment.network,
        method: payment.method,
        reference: payment.reference,
      },
    });
    const decision = decide(answer, approval.on_no_answer);
    if (decision.approved === null) return this.holdForReview(payment, decision.source, approval.review_hours, input);
    // Applied only to the payment as it was asked about: still `created`. One a retry had
    // approved and sent on meanwhile (its own ask answered first) keeps that answer: a late
    // decline of it must not free the hold of a payout its provider may be paying.
    const moved: { payment: Payment; applied: boolean; refused?: RampartError } = decision.approved
      ? await this.approvedUnlessRefused(payment, input, decision.source)
      : await this.moveIf(awaitingApproval, payment, 'failed', 'operator declined', {
          set: {
            approval: {
              approved: false,
              source: decision.source,
              reason_code: decision.reasonCode,
              code: decision.code,
            },
            failure_code: decision.code,
            failure_message: decision.message ?? null,
          },
          event: { type: 'withdrawal.declined', data: { reason_code: decision.reasonCode, code: decision.code } },
        });
    // Ended while the approver was asked (reconciliation gave up on it), or approved and sent
    // on by a retry meanwhile: answered as it stands.
    if (!moved.applied) return this.asAnswer(moved.payment, moved.payment.provider);
    if (moved.refused) throw moved.refused;
    if (decision.approved) return moved.payment;
    throw new RampartError(decision.code, { reason_code: decision.reasonCode, payment_id: payment.id });
  }

  /**
   * The gates as read before, with the user's standing (blocked, verified…) as committed
   * now, read under a share lock: a block waits for the transaction that sends the payout on.
   */
  private async standingNow(tx: Queryable, payment: Payment, gates: GateContext): Promise<GateContext> {
    const { rows } = await tx.query<Standing>({
      name: 'payment-user-standing',
      text: `SELECT ${STANDING_COLUMNS} FROM end_users WHERE operator_id = $1 AND id = $2 FOR SHARE`,
      values: [payment.operator_id, payment.user_id],
    });
    return rows[0] ? { ...gates, user: { ...gates.user, ...rows[0] } } : gates;
  }

  /**
   * An approved withdrawal goes on (`pending`) only if the user still stands as the gates
   * found them: the approver may take many seconds, and a block or a lapsed verification
   * committed meanwhile is read here, under the user's lock, in the transaction that
   * sends the payout on. Refused, it fails with the gate's code and its hold is freed.
   */
  private approvedUnlessRefused(
    payment: Payment,
    input: CreatePayment,
    source: 'operator' | 'default',
  ): Promise<{ payment: Payment; applied: boolean; refused?: RampartError }> {
    const record = { approved: true, source };
    return this.inTransaction(async (tx) => {
      const current = await paymentStore.get(tx, payment.operator_id, payment.id, true);
      if (!awaitingApproval(current)) return { payment: current, applied: false };
      const standing = await this.standingNow(tx, current, input.gates);
      try {
        enforceStanding(standing, actionOf(current));
      } catch (error) {
        if (!isRampartError(error)) throw error;
        const failed = await this.transitionIn(tx, current, 'failed', `operator approved; ${error.code}`, {
          set: { approval: record, failure_code: error.code, failure_message: error.message },
        });
        return { payment: failed, applied: true, refused: error };
      }
      const approved = await this.transitionIn(tx, current, 'pending', 'operator approved', {
        set: { approval: record },
        event: { type: 'withdrawal.approved', data: { source } },
      });
      return { payment: approved, applied: true };
    });
  }

  /**
   * Holds a withdrawal for the operator's review: it stays `created`, its hold in place,
   * sent nowhere until the operator approves it by hand. What its payout will need and
   * the payment row does not keep (the destination as given, the return URL) is sealed
   * to the payment, and deleted when the review ends.
   */
  private async holdForReview(
    payment: Payment,
    source: 'operator' | 'default',
    hours: number,
    input: CreatePayment,
  ): Promise<Payment> {
    const now = this.clock.now();
    const expiresAt = new Date(now.getTime() + hours * 3_600_000);
    const sealed = this.reviewBox.seal(
      JSON.stringify({ instrument: input.instrument ?? {}, return_url: input.returnUrl ?? null }),
      payment.id,
    );
    return this.inTransaction(async (tx) => {
      const current = await paymentStore.get(tx, payment.operator_id, payment.id, true);
      // Ended while the approver was asked (reconciliation gave up on it), or sent on by a
      // retry meanwhile: answered as it stands.
      if (current.status !== 'created' || !awaitsProvider(current)) return this.asAnswer(current, current.provider);
      await reviewStore.open(tx, {
        paymentId: current.id,
        operatorId: current.operator_id,
        expiresAt,
        sealed,
        at: now,
      });
      const held = await this.update(tx, current.id, {
        approval: { approved: null, source, review_expires_at: expiresAt.toISOString() },
      });
      const why = source === 'operator' ? 'the approval endpoint asked for it' : 'no answer from the approval endpoint';
      await this.recordOnly(tx, held, `held for review: ${why}`, { review_expires_at: expiresAt.toISOString() });
      await this.emit(tx, held, 'withdrawal.review_requested', { source, expires_at: expiresAt.toISOString() });
      this.announced(tx, held, false);
      return held;
    });
  }

  /** Ends a review under the payment's lock: its row (and sealed destination) goes, the payment moves. */
  private async endReview(tx: Queryable, payment: Payment, to: PaymentStatus, cause: string, extra: TransitionExtra) {
    await reviewStore.close(tx, payment.id);
    return this.transitionIn(tx, payment, to, cause, extra);
  }

  /** The withdrawal `id` of the operator, locked, if it is under review; withdrawal_not_in_review if not. */
  private async lockReview(tx: Queryable, operatorId: string, id: string): Promise<Payment> {
    const payment = await paymentStore.get(tx, operatorId, id, true);
    if (!underReview(payment))
      throw new RampartError('withdrawal_not_in_review', { payment_id: id, status: payment.status });
    return payment;
  }

  /**
   * The operator approves a withdrawal under review: it is sent to the provider it was
   * recorded for, and answered as a create would be. The user's standing is checked
   * again first (blocked, identity verification), as it is now: a user who may no longer
   * withdraw is not paid, the withdrawal fails with that code and its hold is freed.
   * The sealed destination is kept until the provider has answered, so that `resume` (a
   * retry of an approval whose request died, with its Idempotency-Key) can send the
   * withdrawal on where it was left, under the same provider key: never paid twice.
   */
  async approveReview(
    operatorId: string,
    id: string,
    gates: GateContext,
    options: { resume?: boolean } = {},
  ): Promise<Payment> {
    const decided = await this.inTransaction(async (tx) => {
      const current = await paymentStore.get(tx, operatorId, id, true);
      if (options.resume && approvedAfterReview(current)) {
        const sealed = await reviewStore.sealed(tx, current.id);
        const provider = this.providers[current.mode].get(current.provider);
        if (sealed && provider) {
          await this.recordOnly(tx, current, 'approval resumed by a retry with its Idempotency-Key', {});
          const resumed = await this.update(tx, current.id, { sent_at: this.clock.now() });
          return { payment: resumed, provider, kept: this.openReview(sealed, current.id), resumed: true };
        }
      }
      if (!underReview(current))
        throw new RampartError('withdrawal_not_in_review', { payment_id: id, status: current.status });
      const provider = this.providers[current.mode].get(current.provider);
      if (!provider) {
        // Left under review: the operator can still decline it.
        throw new RampartError('action_not_permitted', {
          action: current.kind,
          provider: current.provider,
          denyReason: `Not available in ${current.mode} mode`,
        });
      }
      const reviewed = { reviewed_at: this.clock.now().toISOString() };
      // As it stands now, under the payment's lock: a block committed since the route read
      // the gates is not paid out.
      const standing = await this.standingNow(tx, current, gates);
      try {
        enforceStanding(standing, actionOf(current));
      } catch (error) {
        if (!isRampartError(error)) throw error;
        const failed = await this.endReview(tx, current, 'failed', `approved after review; ${error.code}`, {
          set: {
            approval: { approved: true, source: 'review', ...reviewed },
            failure_code: error.code,
            failure_message: error.message,
          },
        });
        return { refused: error, payment: failed };
      }
      // Opened before anything moves: a destination that cannot be read leaves the review as it was.
      const sealed = await reviewStore.sealed(tx, current.id);
      const kept = this.openReview(sealed!, current.id);
      const approved = await this.transitionIn(tx, current, 'pending', 'approved after review', {
        set: { approval: { approved: true, source: 'review', ...reviewed }, sent_at: this.clock.now() },
        event: { type: 'withdrawal.approved', data: { source: 'review' } },
      });
      return { payment: approved, provider, kept, resumed: false };
    });
    if ('refused' in decided) {
      throw new RampartError(decided.refused.code, { ...decided.refused.details, payment_id: id });
    }
    const { payment, provider, kept, resumed } = decided;
    const sending: Sending = { user: gates.user, instrument: kept.instrument, returnUrl: kept.return_url };
    try {
      return await this.submit(payment, [provider], sending, { resumed });
    } finally {
      // The provider has answered (or the payment stays open for reconciliation): the destination goes.
      await reviewStore.close(this.db, payment.id);
    }
  }

  private openReview(sealed: Buffer, paymentId: string) {
    return JSON.parse(this.reviewBox.open(sealed, paymentId)) as {
      instrument: Record<string, unknown>;
      return_url: string | null;
    };
  }

  /** The operator declines a withdrawal under review with a reason 1–9: it fails with that code, its hold freed. */
  async declineReview(operatorId: string, id: string, reasonCode: number, message?: string): Promise<Payment> {
    const code = declineCodeForReason(reasonCode);
    return this.inTransaction(async (tx) => {
      const payment = await this.lockReview(tx, operatorId, id);
      const decline = { reason_code: reasonCode, code };
      const declined = await this.endReview(tx, payment, 'failed', 'declined after review', {
        set: {
          approval: { approved: false, source: 'review', ...decline, reviewed_at: this.clock.now().toISOString() },
          failure_code: code,
          failure_message: message ?? null,
        },
        event: { type: 'withdrawal.declined', data: { source: 'review', ...decline } },
      });
      return declined;
    });
  }

  /**
   * Reviews past their deadline are declined as withdrawals unavailable (reason 3), as
   * no answer is by default: the hold is freed. Returns how many.
   */
  async expireReviews(now: Date = this.clock.now(), batch = 100): Promise<number> {
    await reviewStore.sweepEnded(this.db);
    let expired = 0;
    for (const due of await reviewStore.due(this.db, now, batch)) {
      const ended = await this.inTransaction(async (tx) => {
        const payment = await paymentStore.get(tx, due.operator_id, due.payment_id, true);
        if (!underReview(payment)) {
          await reviewStore.close(tx, payment.id); // ended some other way: nothing left to keep
          return false;
        }
        const decline = { reason_code: 3, code: 'withdrawal_unavailable' as const };
        await this.endReview(tx, payment, 'failed', 'review expired', {
          set: {
            approval: { approved: false, source: 'review_expired', ...decline },
            failure_code: decline.code,
            failure_message: 'Nobody reviewed the withdrawal in time.',
          },
          event: { type: 'withdrawal.declined', data: { source: 'review_expired', ...decline } },
        });
        return true;
      });
      if (ended) expired++;
    }
    return expired;
  }

  /**
   * Finishes a payment whose first request ended before hearing its provider (it died,
   * or failed with a 5xx): called for the retry that took its Idempotency-Key over, with
   * that retry's input, gates checked again. It goes to
   * the provider it was recorded for, under the same provider idempotency key (the
   * payment id): a provider that had received it answers with that payment, one that had
   * not makes it now — never a second charge or payout. Since the dead request's call
   * may have reached the provider, no failure here proves that nothing moved: an error
   * leaves the payment `pending` for reconciliation rather than failing it or trying
   * another provider. A withdrawal the dead request left `created` had no recorded
   * answer from the operator: it is asked again (same payment id) before anything is sent.
   */
  async resume(left: Payment, input: CreatePayment): Promise<Payment> {
    const provider = this.providers[left.mode].get(left.provider);
    if (!provider || !awaitsProvider(left)) return left;
    await this.refuseResumeUnlessPermitted(left, input);
    let payment = await this.markResumed(left);
    if (!awaitsProvider(payment)) return payment; // a webhook got there first
    if (PAY_OUT.includes(left.kind) && payment.status === 'created') payment = await this.approve(payment, input);
    return this.submit(payment, [provider], sendingOf(input), { resumed: true });
  }

  /**
   * The retry's gates, as they stand now: a user blocked, or no longer verified, allowed
   * or located, since the first request is not sent on for. A pay-out the first request
   * left `created` was never sent (its approver had not answered): it fails, its hold
   * freed. Anything else may have reached its provider with the first request, so
   * nothing proves it did not move: it is left to reconciliation, which asks the
   * provider. Either way the retry is answered with the gate's code.
   */
  private async refuseResumeUnlessPermitted(left: Payment, input: CreatePayment): Promise<void> {
    try {
      enforceGates(input.gates, actionOf(left));
    } catch (error) {
      if (!isRampartError(error)) throw error;
      if (PAY_OUT.includes(left.kind) && left.status === 'created')
        await this.moveIf(awaitingApproval, left, 'failed', `refused on retry: ${error.code}`, {
          set: { failure_code: error.code, failure_message: error.message },
        });
      throw error;
    }
  }

  /** Marks a payment a retry sends on, under its lock; one no longer awaiting its provider is answered as it is. */
  private markResumed(left: Payment): Promise<Payment> {
    return this.inTransaction(async (tx) => {
      const current = await paymentStore.get(tx, left.operator_id, left.id, true);
      if (!awaitsProvider(current)) return current;
      await this.recordOnly(tx, current, 'resumed by a retry with its Idempotency-Key', {});
      // Touched: reconciliation leaves a payment a retry is working on alone; and sent on:
      // a cancel waits for this call as for a create's.
      return this.update(tx, current.id, { sent_at: this.clock.now() });
    });
  }

  /**
   * Refunds a completed card deposit, whole or in part, back to the card it came from:
   * a payment of its own (kind `refund`, `refund_of` the deposit), paid out through the
   * deposit's provider like a withdrawal. Its amount is held on the user's balance (less
   * the part of the deposit's fee it gives back, see `feeGivenBack`) in the transaction
   * that creates it, under the deposit's lock, where what is still refundable is decided:
   * refunds of one deposit never add up to more than it took, whatever runs at once. It
   * completes (the hold posted, the fee given back, the deposit's `amount_refunded`
   * counted and `payment.refunded` announced) or fails (the hold freed) as its provider
   * says, in its answer, its webhook or reconciliation. A retry with the same
   * Idempotency-Key answers the same refund, sent on if its provider has not answered.
   */
  async refund(input: CreateRefund): Promise<Payment> {
    const deposit = await paymentStore.get(this.db, input.operatorId, input.paymentId);
    const provider = assertRefundable(deposit, input.mode, this.providers[deposit.mode].get(deposit.provider));
    const currency = getAsset(deposit.currency, deposit.network).currency;
    const asked = input.amount === undefined || input.amount === null ? undefined : parseAmount(input.amount, currency);
    const sending: Sending = {
      user: input.user,
      instrument: { payment: deposit.provider_ref, ...(input.reason ? { reason: input.reason } : {}) },
    };
    // A retry of a request that ended unanswered (its node died): the refund it made is
    // the answer, sent on if it never reached the processor. Looked for first: counted
    // against what is refundable, it would refuse the retry as more than is left.
    const earlier = input.idempotencyKey ? await this.earlierRefund(deposit, input, asked) : undefined;
    if (earlier) return this.resumeRefund(earlier, provider, sending);
    await this.assertNoEarlierNodes();
    let refund: Payment;
    try {
      refund = await this.inTransaction(async (tx) => {
        const locked = await paymentStore.get(tx, input.operatorId, deposit.id, true);
        const committed = await this.refundsCommitted(tx, locked.id);
        const amount = refundAmount(locked, currency, asked, refundableNow(locked, committed.amount));
        return this.insertRefund(tx, locked, amount, feeGivenBack(locked, amount, committed), input, asked);
      });
    } catch (error) {
      // The same key at the same time: the other request's refund is the answer.
      const existing =
        input.idempotencyKey && uniqueViolation(error) === 'payments_idempotency'
          ? await this.earlierRefund(deposit, input, asked)
          : undefined;
      if (existing) return this.resumeRefund(existing, provider, sending);
      // Its payment gone by the time it is looked for: the other request is still at it.
      if (uniqueViolation(error) === 'payments_idempotency')
        throw new RampartError('idempotency_in_progress', { idempotency_key: input.idempotencyKey });
      if (uniqueViolation(error) === 'payments_reference')
        throw new RampartError('resource_exists', { resource: 'payment', reference: input.reference });
      throw error;
    }
    return this.submit(refund, [provider], sending);
  }

  /**
   * Refunds wait while a node of a release before them is connected (its connections
   * say so: `EARLIER_NODE_NAMES`): it would take a refund for a pay-in, crediting the
   * user what was paid back, and look for it among card payments when reconciling.
   */
  private async assertNoEarlierNodes(): Promise<void> {
    const { rows } = await this.db.query({
      name: 'earlier-nodes',
      text: `SELECT 1 FROM pg_stat_activity
              WHERE datname = current_database() AND application_name = ANY($1::text[]) LIMIT 1`,
      values: [EARLIER_NODE_NAMES],
    });
    if (rows[0])
      throw new RampartError('service_unavailable', {
        reason: 'a Rampart node of an earlier release is running; refunds wait until every node is upgraded',
      });
  }

  /** What a deposit's refunds not failed or cancelled (completed, or under way) take of it: amount and fee given back. */
  private async refundsCommitted(tx: Queryable, depositId: string): Promise<{ amount: bigint; fee: bigint }> {
    const { rows } = await tx.query<{ amount: bigint; fee: bigint }>({
      name: 'refunds-committed',
      text: `SELECT coalesce(sum(amount), 0) AS amount, coalesce(sum(fee), 0) AS fee FROM payments
              WHERE refund_of = $1 AND status NOT IN ('failed', 'cancelled')`,
      values: [depositId],
    });
    return rows[0]!;
  }

  /**
   * The refund made under this request's Idempotency-Key, if any. The key's stored answer
   * may have been purged since: a key used again for another request (another deposit,
   * amount, reason, reference or metadata) is a conflict, never answered with this refund.
   */
  private async earlierRefund(
    deposit: Payment,
    input: CreateRefund,
    asked: bigint | undefined,
  ): Promise<Payment | undefined> {
    const key = input.idempotencyKey!;
    const existing = await paymentStore.byIdempotencyKey(this.db, deposit.operator_id, deposit.mode, key);
    if (!existing) return undefined;
    const { rows } = await this.db.query<{ data: { reason?: string | null; asked?: string | null } }>(
      'SELECT data FROM payment_transitions WHERE payment_id = $1 AND seq = 1',
      [existing.id],
    );
    const first = rows[0]?.data ?? {};
    const same =
      existing.refund_of === deposit.id &&
      (first.reason ?? null) === (input.reason ?? null) &&
      existing.reference === (input.reference ?? null) &&
      canonicalJson(existing.metadata) === canonicalJson(input.metadata ?? {}) &&
      // What was asked: an amount, or (null) all that was left. Refunds recorded before
      // Rampart kept it are compared by the amount alone, where one is asked.
      ('asked' in first
        ? first.asked === (asked?.toString() ?? null)
        : asked === undefined || existing.amount === asked);
    if (!same) throw new RampartError('idempotency_conflict', { idempotency_key: key });
    return existing;
  }

  /**
   * An earlier request's refund, answered as it stands, or sent on if its processor never
   * answered. The processor is asked first by Rampart's id: a refund it made, and whose
   * idempotency key it has since forgotten, would otherwise be made a second time.
   */
  private async resumeRefund(refund: Payment, provider: PaymentProvider, sending: Sending): Promise<Payment> {
    const resumed = awaitsProvider(refund) ? await this.markResumed(refund) : refund;
    if (!awaitsProvider(resumed)) return this.asAnswer(resumed, resumed.provider);
    const made = await provider.lookup(resumed.id, resumed.kind, resumed.method).catch(() => undefined);
    if (made === undefined) return this.keepOpen(resumed, `${provider.id} could not be asked`);
    if (made) return this.answered(resumed, provider, made, `${provider.id} had it, found by Rampart's id`);
    return this.submit(resumed, [provider], sending, { resumed: true });
  }

  /** The refund, its first timeline entry, `payment.created` and its hold on the user's balance. */
  private async insertRefund(
    tx: Queryable,
    deposit: Payment,
    amount: bigint,
    feeBack: bigint,
    input: CreateRefund,
    asked: bigint | undefined,
  ): Promise<Payment> {
    const now = this.clock.now();
    const id = this.ids('pay');
    // Paid back to the card the deposit came from, as the deposit recorded it (never its code).
    const { cvc: _cvc, ...card } = deposit.destination;
    const { rows } = await tx.query<Payment>(
      `INSERT INTO payments (id, operator_id, mode, user_id, kind, method, provider, status, currency, network, amount,
         fee, reference, idempotency_key, destination, metadata, refund_of, created_at, updated_at)
       VALUES ($1, $2, $3, $4, 'refund', $5, $6, 'created', $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16)
       RETURNING *`,
      [
        id,
        deposit.operator_id,
        deposit.mode,
        deposit.user_id,
        deposit.method,
        deposit.provider,
        deposit.currency,
        deposit.network,
        amount,
        feeBack,
        input.reference ?? null,
        input.idempotencyKey ?? null,
        JSON.stringify(card),
        JSON.stringify(input.metadata ?? {}),
        deposit.id,
        now,
      ],
    );
    const created = rows[0]!;
    const reason = input.reason ?? null;
    await tx.query(
      `INSERT INTO payment_transitions (payment_id, seq, from_status, to_status, cause, data, at)
       VALUES ($1, 1, NULL, 'created', $2, $3, $4)`,
      [
        id,
        `refund of ${deposit.id}${reason ? ` (${reason})` : ''}`,
        // What was asked, beside what it came to: a key used again is compared with it.
        JSON.stringify({ refund_of: deposit.id, reason, asked: asked?.toString() ?? null }),
        now,
      ],
    );
    await this.emit(tx, created, 'payment.created', {});
    // Nothing to hold when the refund's share of the fee is all of it: the deposit credited
    // nothing for it (a fee that took all it credited, or a last cent of a split).
    if (amount === feeBack) {
      this.announced(tx, created, true);
      return created;
    }
    const hold = await this.ledger.hold(tx, {
      operatorId: deposit.operator_id,
      from: await this.userAccountOf(tx, deposit),
      to: await this.clearingAccount(tx, ownerOf(deposit), deposit.provider, deposit.currency, id),
      amount: amount - feeBack,
      reference: `${id}:hold`,
      expiresAt: new Date(now.getTime() + HOLD_TTL_MS),
      description: `refund ${id} of ${deposit.id}`,
    });
    const refund = await this.update(tx, id, { hold_id: hold.id });
    this.announced(tx, refund, true);
    return refund;
  }

  /**
   * Sends the payment to the first provider that takes it. A provider that fails before
   * anything can have moved (unreachable, error answer, garbage) gives way to the next;
   * a timeout leaves the payment pending for reconciliation — never a second charge.
   */
  private async submit(
    payment: Payment,
    route: readonly PaymentProvider[],
    sending: Sending,
    options: { resumed?: boolean } = {},
  ): Promise<Payment> {
    // Ended before it was sent (while its approval was asked): sent nowhere.
    if (!awaitsProvider(payment)) return this.asAnswer(payment, payment.provider);
    let lastError: RampartError | undefined;
    for (const provider of route) {
      if (provider.id !== payment.provider) {
        payment = await this.switchProvider(payment, provider.id, lastError);
        // Ended meanwhile (a webhook, reconciliation): sent nowhere else, answered as it ended.
        if (!awaitsProvider(payment)) return this.asAnswer(payment, payment.provider);
      }
      const request: ProviderRequest = {
        paymentId: payment.id,
        operatorId: payment.operator_id,
        kind: payment.kind,
        method: payment.method,
        amount: payment.amount,
        currency: payment.currency,
        network: payment.network,
        user: sending.user,
        returnUrl: sending.returnUrl ?? null,
        instrument: sending.instrument ?? {},
        idempotencyKey: payment.id,
      };
      try {
        const outcome = await this.callWithRetry(provider, request);
        return await this.answered(payment, provider, outcome, `${provider.id} answered`);
      } catch (error) {
        if (!isRampartError(error)) throw error;
        if (error.details['payment_id'] === payment.id) throw error; // already settled above
        if (options.resumed || error.code === 'upstream_timeout' || error.code === 'deposit_not_completed') {
          return this.keepOpen(
            payment,
            error.code === 'upstream_timeout' || !options.resumed
              ? 'provider timed out'
              : `resumed call answered ${error.code}`,
          );
        }
        if (FALLBACK_ERRORS.includes(error.code)) {
          // The call may have reached the provider and moved money though it errored (a
          // 5xx, a reset mid-answer, an unreadable answer): ask it, by Rampart's id, before
          // another provider is tried or the payment fails. Only a call that was never sent
          // needs no asking.
          const found = neverSent(error)
            ? null
            : await provider.lookup(payment.id, payment.kind, payment.method).catch(() => undefined);
          if (found === undefined) return this.keepOpen(payment, `${provider.id} answered ${error.code}`);
          if (found)
            return this.answered(
              payment,
              provider,
              found,
              `${provider.id} answered ${error.code}; found by Rampart's id`,
            );
          lastError = error;
          continue;
        }
        const failed = await this.fail(payment, error);
        if (!failed.applied) return this.asAnswer(failed.payment, failed.payment.provider);
        // The provider's compliance verdicts (blocked, KYC, re-verification) and bad input keep their own codes.
        if (['compliance', 'invalid_request'].includes(error.entry.type)) {
          throw new RampartError(error.code, { ...error.details, payment_id: payment.id });
        }
        throw new RampartError(failureOf(payment.kind), {
          payment_id: payment.id,
          reason: error.code,
          provider: provider.id,
        });
      }
    }
    const failed = await this.fail(payment, lastError!);
    if (!failed.applied) return this.asAnswer(failed.payment, failed.payment.provider);
    throw new RampartError(lastError!.code, { ...lastError!.details, payment_id: payment.id });
  }

  /** Applies what the provider said of a payment it was just asked to make, and answers the payment as it stands. */
  private async answered(payment: Payment, provider: PaymentProvider, outcome: ProviderOutcome, cause: string) {
    const after = await this.applyOutcome(payment.operator_id, payment.id, outcome, cause, payment);
    return this.asAnswer(after, provider.id, outcome.failure?.details);
  }

  /**
   * The create's answer for a payment as it stands: a failed one is answered as the
   * catalog's failure of its kind (retryable), naming the payment and why it failed.
   */
  private asAnswer(payment: Payment, provider: string, details: Record<string, unknown> = {}): Payment {
    if (payment.status !== 'failed') return payment;
    // A refund's failure code is the refund's own: why is in the processor's words.
    const why = payment.kind === 'refund' ? details['provider_code'] : undefined;
    throw new RampartError(failureOf(payment.kind), {
      payment_id: payment.id,
      reason: typeof why === 'string' ? why : (payment.failure_code ?? 'failed'),
      provider,
      ...details,
    });
  }

  /**
   * The provider may have acted, and nobody can say yet: the payment stays open, and its
   * webhook or reconciliation says how it ended. (A webhook may already have: then that stands.)
   */
  private keepOpen(payment: Payment, why: string): Promise<Payment> {
    return this.inTransaction(async (tx) => {
      const current = await paymentStore.get(tx, payment.operator_id, payment.id, true);
      if (current.status !== 'created') return current;
      return this.transitionIn(tx, current, 'pending', `${why}; outcome unknown`, {});
    });
  }

  /**
   * One call to a provider, tried a second time (same idempotency key, short pause) when
   * it failed in a way a second try may get past (unreachable, a 5xx, an unreadable
   * answer): a passing fault should not cost the user a failed payment, and the key makes
   * a provider that did the work answer with it. A timeout is never retried here; its
   * outcome is unknown.
   */
  private async callWithRetry(provider: PaymentProvider, request: ProviderRequest): Promise<ProviderOutcome> {
    const call = () => (PAY_OUT.includes(request.kind) ? provider.payOut(request) : provider.payIn(request));
    try {
      return await call();
    } catch (error) {
      if (!isRampartError(error) || !FALLBACK_ERRORS.includes(error.code)) throw error;
      await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
      try {
        return await call();
      } catch (again) {
        // The first call may have reached the provider (a 5xx, a reset mid-answer): a retry
        // that never left Rampart (the breaker that error opened) proves nothing of it, and
        // answered with the retry's error the caller would skip asking the provider and
        // send the payment to the next one, to be charged or paid out twice.
        if (isRampartError(again) && neverSent(again) && !neverSent(error)) throw error;
        throw again;
      }
    }
  }

  /**
   * Points the payment, and its hold, at the next provider on its route. Checked under
   * its lock: a payment that no longer awaits a provider (since the last one erred, a
   * webhook or reconciliation ended it or gave it that provider's reference) is returned
   * as it is and left alone. Sent on, it could be paid out a second time, and its hold,
   * already posted or freed by how it ended, would be held again.
   */
  private async switchProvider(payment: Payment, provider: string, cause: RampartError | undefined): Promise<Payment> {
    return this.inTransaction(async (tx) => {
      const current = await paymentStore.get(tx, payment.operator_id, payment.id, true);
      if (!awaitsProvider(current)) return current;
      const { rows } = await tx.query<Payment>(
        'UPDATE payments SET provider = $2, updated_at = $3 WHERE id = $1 RETURNING *',
        [current.id, provider, this.clock.now()],
      );
      if (current.hold_id) {
        // The hold pointed at the first provider's clearing account; move it to the new one.
        await this.ledger.voidHold(tx, current.hold_id);
        const to = await this.clearingAccount(tx, ownerOf(current), provider, current.currency, current.id);
        const hold = await this.ledger.getHold(current.hold_id, tx);
        const moved = await this.ledger.hold(tx, {
          operatorId: current.operator_id,
          from: hold.debit_account_id,
          to,
          // What was held, fee included.
          amount: hold.amount,
          reference: `${current.id}:hold:${provider}`,
          expiresAt: hold.expires_at,
        });
        await tx.query('UPDATE payments SET hold_id = $2 WHERE id = $1', [current.id, moved.id]);
        rows[0]!.hold_id = moved.id;
      }
      await this.recordOnly(tx, current, `fell back from ${current.provider} to ${provider}`, {
        error: cause?.code ?? null,
      });
      this.announced(tx, current, false);
      return rows[0]!;
    });
  }

  /** Fails a payment its provider refused, unless it ended meanwhile (see `moveIfAwaiting`). */
  private fail(payment: Payment, error: RampartError) {
    return this.moveIfAwaiting(payment, 'failed', `provider: ${error.code}`, {
      set: { failure_code: error.code, failure_message: error.message },
    });
  }

  /**
   * Moves a payment the create is still working on, checked under its lock: one that no
   * longer awaits a provider (a webhook or reconciliation ended it, or gave it its
   * provider's reference, while the provider or the operator's approver was being asked)
   * is left as it is, `applied` false, for the create to answer as it stands.
   */
  private moveIfAwaiting(payment: Payment, to: PaymentStatus, cause: string, extra: TransitionExtra) {
    return this.moveIf(awaitsProvider, payment, to, cause, extra);
  }

  /**
   * A move decided on an earlier read, made only if the payment as its lock finds it
   * still passes `still`; otherwise it is left as it is (`applied` false).
   */
  private moveIf(
    still: (current: Payment) => boolean,
    payment: Payment,
    to: PaymentStatus,
    cause: string,
    extra: TransitionExtra,
  ): Promise<{ payment: Payment; applied: boolean }> {
    return this.inTransaction(async (tx) => {
      const current = await paymentStore.get(tx, payment.operator_id, payment.id, true);
      if (!still(current)) return { payment: current, applied: false };
      return { payment: await this.transitionIn(tx, current, to, cause, extra), applied: true };
    });
  }

  /**
   * Applies what a provider says (answer, webhook or reconciliation). Stale or
   * out-of-order news never moves a payment backwards: an update that is not a legal
   * transition from the current status is ignored.
   */
  async applyOutcome(
    operatorId: string,
    paymentId: string,
    outcome: ProviderOutcome,
    cause: string,
    /** The payment as this node last wrote it, if it has it: most often still what the database holds. */
    known?: Payment,
  ): Promise<Payment> {
    // A pay-in's move (and its credit) is one guarded statement: no transaction around it.
    const alone = known !== undefined && !PAY_OUT.includes(known.kind);
    if (alone) {
      const applied = await this.inTransaction((tx) => this.applyTo(tx, known, outcome, cause, true), {
        oneStatement: true,
      });
      if (applied) return applied;
    }
    return this.inTransaction(async (tx) => {
      const applied = known && !alone && (await this.applyTo(tx, known, outcome, cause, true));
      if (applied) return applied;
      const payment = await paymentStore.get(tx, operatorId, paymentId, true);
      return (await this.applyTo(tx, payment, outcome, cause, false))!;
    });
  }

  /**
   * `applyOutcome` on `payment`. When `guarded`, `payment` was not read under lock: the
   * change is made only if the row still has its status, provider and provider
   * reference (one statement checks and moves), and otherwise nothing is changed and
   * the answer is undefined.
   */
  private async applyTo(
    tx: Queryable,
    payment: Payment,
    outcome: ProviderOutcome,
    cause: string,
    guarded: boolean,
  ): Promise<Payment | undefined> {
    // An amount in another asset than the payment's: the provider mixed up what it reports
    // on; read in the payment's units it would credit a different sum altogether.
    const asset = outcome.amount === undefined ? undefined : outcome.amountAsset;
    if (asset && (asset.currency !== payment.currency || asset.network !== payment.network))
      throw new RampartError('upstream_invalid_response', {
        provider: payment.provider,
        provider_status: `${outcome.status} in ${asset.currency}${asset.network ? ` on ${asset.network}` : ''}`,
      });
    const set: Record<string, unknown> = {};
    if (payment.provider_ref === null) set['provider_ref'] = outcome.providerRef;
    // A webhook that says nothing of the next step leaves the one we have; leaving
    // `pending` clears it below. Late news of an earlier step (an "awaiting deposit"
    // arriving after completion) must not put a stale next step back on the payment.
    const moves = outcome.status !== payment.status && canTransition(payment.status, outcome.status);
    if (outcome.nextAction && (moves ? outcome.status : payment.status) === 'pending')
      set['next_action'] = outcome.nextAction;
    if (!moves) {
      if (guarded) return undefined; // rare enough to read it under lock instead
      if (contradicts(payment.status, outcome.status)) await this.discrepancy(tx, payment, outcome.status, cause);
      if (Object.keys(set).length === 0) return payment;
      const updated = await this.update(tx, payment.id, set);
      this.announced(tx, updated, false);
      return updated;
    }
    if (outcome.status !== 'pending') set['next_action'] = null;
    if (outcome.failure) {
      set['failure_code'] = outcome.failure.code;
      set['failure_message'] = outcome.failure.message ?? null;
    }
    let exceeded: { limit: string; limit_amount: string; amount: string } | undefined;
    // A pay-in completes for what arrived (the sender chose it), not for what was asked:
    // the credit is that amount, and the timeline says what was asked.
    // (An amount the ledger could not hold is no amount: the one asked is credited.)
    const settled =
      outcome.amount !== undefined && outcome.amount.length <= MAX_AMOUNT_INPUT_LENGTH && /^\d+$/.test(outcome.amount)
        ? BigInt(outcome.amount)
        : undefined;
    if (
      outcome.status === 'completed' &&
      !PAY_OUT.includes(payment.kind) &&
      settled !== undefined &&
      settled > 0n &&
      settled <= MAX_AMOUNT
    ) {
      if (settled !== payment.amount) {
        // More than asked is measured against the limits again: read under the lock.
        if (guarded && settled > payment.amount) return undefined;
        const asset = getAsset(payment.currency, payment.network);
        set['amount'] = settled.toString();
        cause = `${cause}; ${formatAmount(settled, asset.currency)} ${payment.currency} arrived where ${formatAmount(payment.amount, asset.currency)} ${payment.currency} was asked`;
        if (settled > payment.amount) {
          exceeded = await this.limitExceeded(tx, payment, settled, asset.currency);
          if (exceeded)
            cause = `${cause}, above the ${exceeded.limit} limit of ${exceeded.limit_amount} ${payment.currency}`;
        }
      }
    }
    const moved = await this.moveStatus(tx, payment, outcome.status, cause, { set }, guarded);
    // Credited whole all the same (the money is the user's, and has moved): the operator is told.
    if (moved && exceeded) await this.emit(tx, moved, 'payment.limit_exceeded', exceeded);
    return moved;
  }

  /**
   * Whether a pay-in of `settled` (more than it asked) is above a limit it was created
   * under: the operator's maximum for one payment, the operator's rolling 24 hours, or one
   * of the user's own limits (`user_day`, `user_week`, `user_month`), with it.
   */
  private async limitExceeded(
    tx: Queryable,
    payment: Payment,
    settled: bigint,
    currency: Currency,
  ): Promise<{ limit: string; limit_amount: string; amount: string } | undefined> {
    const action = actionOf(payment);
    const { max, daily } = limitsOf(await this.settings.get(payment.operator_id, tx), action, currency);
    if (max !== undefined && settled > max)
      return { limit: 'max', limit_amount: formatAmount(max, currency), amount: formatAmount(settled, currency) };
    const { rows } = await tx.query<{ limits: UserLimits }>(
      'SELECT limits FROM end_users WHERE operator_id = $1 AND id = $2',
      [payment.operator_id, payment.user_id],
    );
    const own = limitsInForce(rows[0]?.limits ?? {}, action, currency.code, this.clock.now());
    const passed = await this.passedWindow(
      tx,
      { operatorId: payment.operator_id, userId: payment.user_id, kind: payment.kind, excluding: payment.id },
      currency,
      settled,
      limitWindows(daily, own),
    );
    if (!passed) return undefined;
    return {
      limit: passed.window.own ? `user_${passed.window.period}` : 'daily',
      limit_amount: formatAmount(passed.window.limit, currency),
      amount: formatAmount(passed.used + settled, currency),
    };
  }

  /**
   * The first of `windows` that the user's payments of the kind (failed and cancelled
   * aside) would pass with `amount` more, and what they came to in it.
   */
  private async passedWindow(
    tx: Queryable,
    of: { operatorId: string; userId: string; kind: string; excluding?: string },
    currency: Currency,
    amount: bigint,
    windows: LimitWindow[],
  ): Promise<{ window: LimitWindow; used: bigint } | undefined> {
    if (windows.length === 0) return undefined;
    const now = this.clock.now().getTime();
    const used = await paymentStore.usedWithin(tx, {
      ...of,
      currency: currency.code,
      since: windows.map((w) => new Date(now - LIMIT_PERIODS[w.period])),
    });
    const i = windows.findIndex((window, n) => used[n]! + amount > window.limit);
    return i < 0 ? undefined : { window: windows[i]!, used: used[i]! };
  }

  /**
   * The operator's daily limit for everyone, then the user's own limits, against what the
   * user's payments of the kind came to in each rolling window; called under the user's lock.
   */
  private async checkLimits(
    tx: Queryable,
    input: CreatePayment,
    currency: Currency,
    amount: bigint,
    daily: bigint | undefined,
    own: LimitInForce[],
  ): Promise<void> {
    const passed = await this.passedWindow(
      tx,
      { operatorId: input.operatorId, userId: input.gates.user.id, kind: input.kind },
      currency,
      amount,
      limitWindows(daily, own),
    );
    if (!passed) return;
    const details = {
      limit: formatAmount(passed.window.limit, currency),
      used: formatAmount(passed.used, currency),
      requested: formatAmount(amount, currency),
      currency: currency.code,
    };
    throw passed.window.own
      ? new RampartError('user_limit_exceeded', { action: input.kind, period: passed.window.period, ...details })
      : new RampartError('daily_limit_exceeded', details);
  }

  /**
   * Background reconciliation: asks providers about payments that have been open for
   * a while (a webhook may have been lost) and applies what they say. A payment whose
   * create call never told Rampart the provider's id (it timed out, or the node died
   * mid-call) is looked up by Rampart's own id; a provider with no such payment never
   * received it, so nothing moved there and the payment fails (freeing any hold).
   */
  async reconcile(olderThanMs = 30_000, batch = 50): Promise<number> {
    const now = this.clock.now().getTime();
    const { rows } = await this.db.query<Payment>(OPEN_PAYMENTS_SQL, [
      new Date(now - olderThanMs),
      new Date(now - Math.max(olderThanMs, ABANDONED_CREATE_MS)),
      batch,
    ]);
    let changed = 0;
    // Looked at, changed or not: to the back of the queue, so that payments that cannot be
    // settled now (a provider erroring, one no longer configured) never starve the rest.
    const requeue = (payment: Payment) =>
      this.inTransaction(async (tx) => this.announced(tx, await this.update(tx, payment.id, {}), false));
    for (const payment of rows) {
      const provider = this.providers[payment.mode].get(payment.provider);
      try {
        if (!provider) {
          await requeue(payment);
          continue;
        }
        const outcome = payment.provider_ref
          ? await provider.fetch(payment.provider_ref, payment.kind, payment.method)
          : await provider.lookup(payment.id, payment.kind, payment.method);
        const cause = `reconciled with ${provider.id}`;
        // "Never received" fails the payment only once nothing has touched it for as long
        // as a create can take: before that, its create (or a retry resuming it) may
        // still be on its way to the provider, and failing would free money it then moves.
        const quiet = now - payment.updated_at.getTime() >= ABANDONED_CREATE_MS;
        // Not yet quiet: left where it is, untouched, so that its quiet time keeps counting.
        if (!outcome && !quiet) continue;
        const after = outcome
          ? await this.applyOutcome(payment.operator_id, payment.id, outcome, cause)
          : await this.failUntouched(payment, `${cause}: never received`);
        if (after.status !== payment.status) changed++;
        else await requeue(payment);
      } catch {
        // Still unknown (or changed meanwhile): the next run asks again, after the others.
        await requeue(payment).catch(() => {});
      }
    }
    return changed;
  }

  /**
   * Fails, as never received, a payment reconciliation found quiet and its provider did
   * not know, if nothing has touched it since it was read. Checked under its lock: its
   * create may meanwhile have moved it to the next provider and sent it there (or a
   * retry resumed it), and failing it then would free money that provider pays out.
   */
  private async failUntouched(payment: Payment, cause: string): Promise<Payment> {
    const untouched = (current: Payment) => current.updated_at.getTime() === payment.updated_at.getTime();
    const failed = await this.moveIf(untouched, payment, 'failed', cause, {
      set: { failure_code: 'upstream_timeout', failure_message: 'The provider never received the payment.' },
    });
    return failed.payment;
  }

  /**
   * Hold expiry that never frees money still on its way. A due hold that secures an open
   * withdrawal (not yet sent, or sent and not yet settled) is extended by another
   * `HOLD_TTL_MS`: its payment's own end posts or voids it, and reconciliation keeps
   * asking the provider for that end. Freeing it would let the user spend the money
   * again while the provider may still pay it out. Only holds no open payment depends
   * on expire. Returns how many expired.
   */
  async expireHolds(now: Date = this.clock.now()): Promise<number> {
    const { rows } = await this.db.query<{ hold_id: string }>(DUE_HOLDS_OF_OPEN_PAYMENTS_SQL, [now]);
    if (rows.length > 0) {
      await this.ledger.extendHolds(
        this.db,
        rows.map((row) => row.hold_id),
        new Date(now.getTime() + HOLD_TTL_MS),
      );
    }
    return this.ledger.expireHolds(now);
  }

  /**
   * Cancels a payment not yet completed. One its provider already knows is cancelled at
   * the provider first: otherwise the user could still authorise it at the bank (or pass
   * 3-D Secure), the provider take the money, and Rampart — the payment cancelled —
   * never credit it. A payment whose create may still be calling its provider answers
   * payment_in_progress (retry). The payment stays locked while the provider is asked, so the
   * provider's own news of it waits and then finds the answer applied. If the provider
   * would not cancel, what it says the payment has become is applied (and kept), and
   * the cancel answers illegal_state_transition from there.
   */
  async cancel(operatorId: string, id: string): Promise<Payment> {
    const result = await this.inTransaction(async (tx) => {
      const payment = await paymentStore.get(tx, operatorId, id, true);
      assertTransition(payment.status, 'cancelled');
      // Under review it was sent nowhere: cancelled at once, its hold freed.
      if (underReview(payment)) {
        return {
          cancelled: await this.endReview(tx, payment, 'cancelled', 'cancelled by request during review', {}),
        };
      }
      const provider = this.providers[payment.mode].get(payment.provider);
      // No answer from its provider yet, and the create (or the approval after review that
      // sent it on) may still be calling it: a charge could land after a cancel here. Until
      // that call is surely over, wait.
      const age = this.clock.now().getTime() - sentAt(payment);
      if (payment.provider_ref === null && age < ABANDONED_CREATE_MS) {
        throw new RampartError('payment_in_progress', { payment_id: payment.id });
      }
      // Its provider unknown here (taken out of this node's configuration): nothing proves
      // the payment never reached it, and a cancel here could free the hold of a payout it
      // still pays. Asked where it is configured, or once it is again. One this node
      // serves in the other mode alone (the sandbox, given to test mode) is not asked: it
      // no longer takes this mode's payments, and moved no real money for them.
      const known = this.providers.test.has(payment.provider) || this.providers.live.has(payment.provider);
      if (!provider && !known) throw new RampartError('upstream_unavailable', { provider: payment.provider });
      // Long over, and still no answer: the provider is asked by Rampart's own id.
      const ref =
        payment.provider_ref ??
        (provider && (await provider.lookup(payment.id, payment.kind, payment.method))?.providerRef);
      if (!ref || !provider) {
        return { cancelled: await this.transitionIn(tx, payment, 'cancelled', 'cancelled by request', {}) };
      }
      const outcome = await provider.cancel(ref, payment.kind, payment.method);
      if (outcome.status === 'failed') {
        const cause = `cancelled by request, and at ${provider.id}`;
        return { cancelled: await this.transitionIn(tx, payment, 'cancelled', cause, {}) };
      }
      return { refused: (await this.applyTo(tx, payment, outcome, `${provider.id} would not cancel`, false))! };
    });
    if ('cancelled' in result) return result.cancelled;
    throw new RampartError('illegal_state_transition', {
      from: result.refused.status,
      to: 'cancelled',
      resource: 'payment',
    });
  }

  /**
   * A bank's return of an ACH debit, decided and applied under the payment's lock. A debit
   * returned after it settled undoes the completed deposit: the credit goes back, even
   * into debt, with `ach.returned` recorded in the same transaction. One returned before
   * it settled fails the payment. Decided on an earlier read, a return could meet the
   * settlement being applied in between: taken for a return before settlement, it would
   * then be recorded as a contradiction while the user kept the credit.
   */
  async applyAchReturn(
    operatorId: string,
    id: string,
    returned: {
      providerRef: string;
      returnCode: string;
      failure: { code: ErrorCode; details: Record<string, unknown> };
    },
  ): Promise<Payment> {
    return this.inTransaction(async (tx) => {
      const payment = await paymentStore.get(tx, operatorId, id, true);
      const cause = `ACH return ${returned.returnCode}`;
      if (payment.status === 'reversed') return payment; // a redelivered return
      const refunded =
        payment.kind === 'deposit' && payment.status === 'completed'
          ? (await this.refundsCommitted(tx, payment.id)).amount
          : 0n;
      assertReturnable(payment, returned.returnCode, refunded);
      if (payment.status === 'completed') {
        return this.transitionIn(tx, payment, 'reversed', cause, {
          set: { failure_code: returned.failure.code, failure_message: cause },
          event: { type: 'ach.returned', data: { payment_id: id, ...returned.failure.details } },
        });
      }
      const outcome: ProviderOutcome = {
        providerRef: returned.providerRef,
        status: 'failed',
        failure: returned.failure,
      };
      return (await this.applyTo(tx, payment, outcome, `${cause} before settlement`, false))!;
    });
  }

  /**
   * A cardholder's dispute of a card pay-in (a chargeback), applied under the payment's
   * lock. An open dispute moves no money: the card network has not decided, and the
   * operator answers it at the processor (`payment.disputed` says so). Won, the payment
   * stands. Lost, the money is the cardholder's for good: the completed payment is
   * reversed as a returned ACH debit is (its credit and fee go back, even into debt),
   * failing with `payment_charged_back`. News the payment already has, or older than
   * what it has (an opening after the decision), changes nothing; nor does any dispute
   * after one lost (the money has gone back once). A dispute lost for part of the payment
   * takes that part back (`chargeBackPart`); the payment stays completed. A dispute of a
   * pay-out, or of a payment refunded (or being refunded), is refused (`invalid_value`):
   * the notice is set aside for a person.
   */
  async applyDispute(
    operatorId: string,
    id: string,
    news: { disputeId: string; status: PaymentDispute['status']; reason: string; amount: bigint },
  ): Promise<Payment> {
    return this.inTransaction(async (tx) => {
      const payment = await paymentStore.get(tx, operatorId, id, true);
      const known = payment.dispute;
      // Reversed by a chargeback, the money went back once: nothing more to apply.
      if (known?.status === 'lost' && (payment.status === 'reversed' || known.id === news.disputeId)) return payment;
      if (known?.id === news.disputeId && (known.status !== 'open' || news.status === 'open')) return payment;
      // Only a loss moves money: refunds still under way count as refunded then, for the
      // card may be paid back either way. An opening or a win is recorded whatever.
      const refunded = news.status === 'lost' ? (await this.refundsCommitted(tx, payment.id)).amount : 0n;
      assertDisputable(payment, news, refunded);
      // Another dispute after part was charged back: what is left to take is for a person.
      if (known?.status === 'lost')
        throw new RampartError('invalid_value', {
          field: 'dispute',
          provided: news.disputeId,
          expected: `no dispute after ${known.id}, lost for part of the payment`,
        });
      const now = this.clock.now().toISOString();
      const dispute: PaymentDispute = {
        id: news.disputeId,
        reason: news.reason,
        status: news.status,
        amount: news.amount.toString(),
        opened_at: known?.id === news.disputeId ? known.opened_at : now,
        closed_at: news.status === 'open' ? null : now,
      };
      const event = {
        type: news.status === 'open' ? ('payment.disputed' as const) : ('payment.dispute_closed' as const),
        data: { dispute },
      };
      if (news.status === 'lost' && payment.status === 'completed' && news.amount === payment.amount) {
        return this.transitionIn(tx, payment, 'reversed', `chargeback: ${news.reason}`, {
          set: { dispute, failure_code: 'payment_charged_back', failure_message: `chargeback: ${news.reason}` },
          event,
        });
      }
      const partLost = news.status === 'lost' && payment.status === 'completed';
      if (partLost) await this.chargeBackPart(tx, payment, news.amount, news.disputeId);
      const currency = getAsset(payment.currency, payment.network).currency;
      await this.recordOnly(
        tx,
        payment,
        news.status === 'open'
          ? `disputed by the cardholder: ${news.reason}`
          : partLost
            ? `chargeback of ${formatAmount(news.amount, currency)} ${payment.currency}: ${news.reason}`
            : `dispute ${news.status}`,
        { dispute_id: news.disputeId },
      );
      const updated = await this.update(tx, payment.id, { dispute });
      await this.emit(tx, updated, event.type, event.data);
      this.announced(tx, updated, false);
      return updated;
    });
  }

  /**
   * A chargeback of part of a completed pay-in: that part goes back as the whole would
   * (`reversed`), the credit and the fee in proportion (as a refund of it would give
   * them back), even into debt; the payment stays completed, for the rest stands.
   */
  private async chargeBackPart(tx: Queryable, payment: Payment, amount: bigint, disputeId: string): Promise<void> {
    const fee = feeGivenBack(payment, amount, { amount: 0n, fee: 0n });
    const user = await this.userAccountOf(tx, payment);
    const clearing = await this.clearingAccount(tx, ownerOf(payment), payment.provider, payment.currency, payment.id);
    const entries = [
      { accountId: clearing, amount },
      ...(fee > 0n ? [{ accountId: await this.feesAccount(tx, payment), amount: -fee }] : []),
      ...(amount > fee ? [{ accountId: user, amount: fee - amount }] : []),
    ];
    try {
      await this.ledger.transfer(
        tx,
        {
          operatorId: payment.operator_id,
          entries,
          reference: `${payment.id}:chargeback:${disputeId}`,
          description: `chargeback of part of ${payment.kind} ${payment.id}`,
        },
        { ignoreFloor: true },
      );
    } catch (error) {
      throw ledgerError(error);
    }
  }

  async transition(
    operatorId: string,
    id: string,
    to: PaymentStatus,
    cause: string,
    extra: TransitionExtra,
  ): Promise<Payment> {
    return this.inTransaction(async (tx) => {
      const payment = await paymentStore.get(tx, operatorId, id, true);
      return this.transitionIn(tx, payment, to, cause, extra);
    });
  }

  private async transitionIn(
    tx: Queryable,
    payment: Payment,
    to: PaymentStatus,
    cause: string,
    extra: TransitionExtra,
  ): Promise<Payment> {
    return (await this.moveStatus(tx, payment, to, cause, extra, false))!;
  }

  /**
   * The change of status, its timeline entry, its events and its money. `payment` was
   * read under lock, or, when `guarded`, the change is made only if the row still has
   * the status, provider and provider reference `payment` says (undefined otherwise):
   * every other writer of a payment changes one of them.
   */
  private async moveStatus(
    tx: Queryable,
    payment: Payment,
    to: PaymentStatus,
    cause: string,
    extra: TransitionExtra,
    guarded: boolean,
  ): Promise<Payment | undefined> {
    assertTransition(payment.status, to);
    const set = { ...extra.set };
    // A pay-in completing with another amount than asked pays the fee on what arrived.
    // Never more than arrived: what a short payment's fee can take (see `creditCte`).
    if (to === 'completed' && set['amount'] !== undefined && !PAY_OUT.includes(payment.kind)) {
      const arrived = BigInt(set['amount'] as string);
      const fee = feeOf(payment.fee_rule, arrived);
      set['fee'] = (fee < arrived ? fee : arrived).toString();
    }
    const entries = Object.entries({ ...set, status: to, updated_at: this.clock.now() });
    const values = [payment.id, ...entries.map(([, value]) => asParameter(value))];
    const assignments = entries.map(([column], i) => `${column} = $${i + 2}`).join(', ');
    const n = values.length;
    values.push(payment.status, to, cause, JSON.stringify(set), this.clock.now());
    let guard = '';
    if (guarded) {
      values.push(payment.provider, payment.provider_ref);
      guard = ` AND status = $${n + 1} AND provider = $${n + 6} AND provider_ref IS NOT DISTINCT FROM $${n + 7}`;
    }
    // The change, its timeline entry and its events in one statement; the events show
    // the payment as the update leaves it.
    const present = presentPaymentForEvent({
      ...payment,
      ...set,
      amount: BigInt(String(set['amount'] ?? payment.amount)),
      fee: BigInt(String(set['fee'] ?? payment.fee)),
      status: to,
    } as Payment);
    const events = this.events.recordingCte(
      payment.operator_id,
      payment.id,
      [
        { type: `payment.${to}` as EventType, data: { payment: present } },
        ...(extra.event ? [{ type: extra.event.type, data: { payment: present, ...extra.event.data } }] : []),
      ],
      values.length + 1,
      IF_UPDATED,
    );
    // A pay-in that completes credits the user in the same statement (for what arrived,
    // where the provider said: see `applyTo`).
    const credited =
      set['amount'] === undefined
        ? payment
        : { ...payment, amount: BigInt(set['amount'] as string), fee: BigInt(set['fee'] as string) };
    const credit =
      to === 'completed' && !PAY_OUT.includes(payment.kind)
        ? await this.creditCte(tx, credited, values.length + events.values.length + 1, IF_UPDATED)
        : undefined;
    let rows: Payment[];
    try {
      ({ rows } = await tx.query<Payment>(
        `WITH updated AS (UPDATE payments SET ${assignments} WHERE id = $1${guard} RETURNING *),
              transition AS (
                INSERT INTO payment_transitions (payment_id, seq, from_status, to_status, cause, data, at)
                SELECT $1, (SELECT coalesce(max(seq), 0) + 1 FROM payment_transitions WHERE payment_id = $1),
                       $${n + 1}, $${n + 2}, $${n + 3}, $${n + 4}, $${n + 5}
                  FROM updated),
              ${events.sql}${credit ? `, ${credit.sql}` : ''}
            SELECT * FROM updated`,
        [...values, ...events.values, ...(credit?.values ?? [])],
      ));
    } catch (error) {
      throw ledgerError(error);
    }
    const updated = rows[0];
    if (!updated) return undefined;
    this.announced(tx, updated, true);
    // A withdrawal's money (its hold) moves after, in the same transaction: a pay-in's
    // credit was part of the statement above.
    await this.moveMoney(tx, payment, to);
    return updated;
  }

  /** The ledger side of each transition. */
  private async moveMoney(tx: Queryable, payment: Payment, to: PaymentStatus): Promise<void> {
    if (payment.kind === 'refund') return this.moveRefundMoney(tx, payment, to);
    const payOut = PAY_OUT.includes(payment.kind);
    if (payOut && payment.hold_id) {
      if (to === 'pending' || to === 'processing') return; // the hold stays as it is
      const fees = payment.fee > 0n && (to === 'completed' || to === 'reversed');
      // Read only where its accounts or state decide something: a completion without a fee posts by id.
      const hold = fees || to !== 'completed' ? await this.ledger.getHold(payment.hold_id, tx) : undefined;
      // With a fee, three accounts move (user, clearing, fees): all are locked first, in the
      // ledger's order, as a pay-in's credit locks them; one at a time, the two would deadlock.
      const feesAccount = fees && hold ? await this.feesAccount(tx, payment) : undefined;
      if (hold && feesAccount)
        await this.ledger.lock(tx, payment.operator_id, [hold.debit_account_id, hold.credit_account_id, feesAccount]);
      if (to === 'completed') {
        // Paid out is paid out: a hold that fell due moments before (the sweep that extends
        // holds of open payments not yet past it) is still reserved, and is posted.
        await this.ledger.postHold(tx, payment.hold_id, undefined, { evenIfDue: true });
        // The fee was held with the amount: it goes on from where the hold put it to the fees account.
        if (hold && feesAccount) {
          await this.ledger.transfer(tx, {
            operatorId: payment.operator_id,
            from: hold.credit_account_id,
            to: feesAccount,
            amount: payment.fee,
            reference: `${payment.id}:fee`,
            description: `fee on ${payment.kind} ${payment.id}`,
          });
        }
      }
      if ((to === 'failed' || to === 'cancelled') && hold?.status === 'pending')
        await this.ledger.voidHold(tx, hold.id);
      if (to === 'reversed' && hold) {
        if (hold.posting_transfer_id)
          await this.ledger.reverse(tx, hold.posting_transfer_id, { reference: `${payment.id}:reversal` });
        // Returned money returns its fee too.
        const fee =
          feesAccount && (await this.ledger.transferByReference(payment.operator_id, `${payment.id}:fee`, tx));
        if (fee) await this.ledger.reverse(tx, fee.id, { reference: `${payment.id}:fee-reversal`, ignoreFloor: true });
      }
      return;
    }
    if (payOut) return;
    // A completion's credit is part of the statement that completes it (`creditCte`).
    if (to === 'reversed') {
      const credit = await this.ledger.transferByReference(payment.operator_id, `${payment.id}:credit`, tx);
      if (credit) {
        await this.ledger.reverse(tx, credit.id, { reference: `${payment.id}:reversal`, ignoreFloor: true });
      }
    }
  }

  /**
   * The ledger side of a refund's transitions. Failed or cancelled, its hold is freed.
   * Completed, its deposit is updated first (`refunded`: its row is locked before any
   * account, in the order a refund's create takes them), then the hold is posted (user →
   * clearing) and the fee it gives back goes from the fees account the deposit paid it
   * into to the clearing account: the provider pays the card the whole refund.
   */
  private async moveRefundMoney(tx: Queryable, refund: Payment, to: PaymentStatus): Promise<void> {
    const hold = refund.hold_id ? await this.ledger.getHold(refund.hold_id, tx) : undefined;
    if (to === 'failed' || to === 'cancelled') {
      if (hold?.status === 'pending') await this.ledger.voidHold(tx, hold.id);
      // A chargeback lost while this refund was under way was set aside (`assertDisputable`),
      // perhaps given up on after its retries: without the refund, it may apply now. Notices
      // being tried at this moment are skipped (this may be one of their batch's): they are
      // tried again anyway.
      await tx.query(
        `UPDATE provider_events SET attempts = 0 WHERE ctid = ANY(ARRAY(
           SELECT ctid FROM provider_events
            WHERE provider = $1 AND processed_at IS NULL AND notice -> 'subject' ->> 'type' = 'dispute'
              AND notice -> 'subject' ->> 'providerRef' = (SELECT provider_ref FROM payments WHERE id = $2)
              FOR UPDATE SKIP LOCKED))`,
        [refund.provider, refund.refund_of],
      );
      return;
    }
    if (to !== 'completed') return;
    const deposit = await this.refunded(tx, refund);
    // A deposit reversed meanwhile (a chargeback) gave its whole fee back with the reversal.
    const feeBack = refund.fee > 0n && deposit.status === 'completed';
    if (!feeBack) {
      if (hold) await this.ledger.postHold(tx, hold.id, undefined, { evenIfDue: true });
      return;
    }
    const clearing =
      hold?.credit_account_id ??
      (await this.clearingAccount(tx, ownerOf(refund), refund.provider, refund.currency, refund.id));
    const fees = await this.feesAccount(tx, deposit);
    await this.ledger.lock(tx, refund.operator_id, [...(hold ? [hold.debit_account_id] : []), clearing, fees]);
    if (hold) await this.ledger.postHold(tx, hold.id, undefined, { evenIfDue: true });
    await this.ledger.transfer(tx, {
      operatorId: refund.operator_id,
      from: fees,
      to: clearing,
      amount: refund.fee,
      reference: `${refund.id}:fee`,
      description: `fee of ${deposit.id} given back by refund ${refund.id}`,
    });
  }

  /** A refund completed: its deposit counts it, says so on its timeline and announces `payment.refunded`. */
  private async refunded(tx: Queryable, refund: Payment): Promise<Payment> {
    const { rows } = await tx.query<Payment>(
      `UPDATE payments SET amount_refunded = amount_refunded + $2, updated_at = $3 WHERE id = $1 RETURNING *`,
      [refund.refund_of, refund.amount, this.clock.now()],
    );
    const deposit = rows[0]!;
    const currency = getAsset(deposit.currency, deposit.network).currency;
    await this.recordOnly(
      tx,
      deposit,
      `refunded ${formatAmount(refund.amount, currency)} ${deposit.currency} by ${refund.id}`,
      { refund_id: refund.id },
    );
    await this.emit(tx, deposit, 'payment.refunded', {
      refund: presentPaymentForEvent({ ...refund, status: 'completed' }),
      amount_refunded: deposit.amount_refunded.toString(),
    });
    this.announced(tx, deposit, false);
    return deposit;
  }

  /**
   * The account of the payment's user in its currency. Only a new account takes the
   * currency's balances mode (as its floor); an existing one keeps the one it has.
   */
  private async userAccountOf(tx: Queryable, payment: Payment) {
    const settings = await this.settings.get(payment.operator_id);
    const balances = settings.currencies.find((c) => c.currency === payment.currency)?.balances ?? 'ledger';
    return this.userAccount(tx, ownerOf(payment), payment.user_id, payment.currency, balances);
  }

  /** The pay-in's credit, clearing → user, as part of the statement that completes it. */
  private async creditCte(tx: Queryable, payment: Payment, first: number, onlyIf: string) {
    const user = await this.userAccountOf(tx, payment);
    const clearing = await this.clearingAccount(tx, ownerOf(payment), payment.provider, payment.currency, payment.id);
    const annotations = {
      operatorId: payment.operator_id,
      reference: `${payment.id}:credit`,
      description: `${payment.kind} ${payment.id}`,
    };
    // The fee comes out of the credit (`moveStatus` keeps it within what arrived).
    const fee = payment.fee;
    if (fee === 0n) {
      return this.ledger.transferCte(
        { ...annotations, from: clearing, to: user, amount: payment.amount },
        first,
        onlyIf,
      );
    }
    const entries = [
      { accountId: clearing, amount: -payment.amount },
      { accountId: await this.feesAccount(tx, payment), amount: fee },
      ...(payment.amount > fee ? [{ accountId: user, amount: payment.amount - fee }] : []),
    ];
    return this.ledger.transferCte({ ...annotations, entries }, first, onlyIf);
  }

  /**
   * The operator's account of fees earned in the payment's currency and mode: one of
   * `CLEARING_SHARDS`, picked by payment id like the clearing account, for the same reason.
   */
  private feesAccount(tx: Queryable, payment: Payment) {
    const shard = `#${clearingShard(payment.id)}`;
    return this.ledger.accountId(tx, {
      ...ownerOf(payment),
      kind: 'fees',
      ownerRef: shard,
      currency: payment.currency,
    });
  }

  private async update(tx: Queryable, id: string, set: Record<string, unknown>): Promise<Payment> {
    const entries = Object.entries({ ...set, updated_at: this.clock.now() });
    const assignments = entries.map(([column], i) => `${column} = $${i + 2}`).join(', ');
    const { rows } = await tx.query<Payment>(`UPDATE payments SET ${assignments} WHERE id = $1 RETURNING *`, [
      id,
      ...entries.map(([, value]) => asParameter(value)),
    ]);
    return rows[0]!;
  }

  /**
   * The provider contradicts how `payment` ended (read under lock). Its news moves no
   * money: the discrepancy is recorded, shown on the payment's timeline and announced
   * to the operator, once per reported status.
   */
  private async discrepancy(tx: Queryable, payment: Payment, reported: PaymentStatus, cause: string) {
    const recorded = await this.discrepancies.record(tx, payment, reported, cause);
    if (!recorded) return;
    await this.recordOnly(tx, payment, `discrepancy: ${payment.provider} reports ${reported} (${cause})`, {
      discrepancy_id: recorded.id,
    });
    await this.emit(tx, payment, 'payment.discrepancy', { discrepancy: presentDiscrepancy(recorded) });
    this.announced(tx, payment, false);
  }

  /** A timeline entry that is not a status change (e.g. a provider fallback). */
  private async recordOnly(tx: Queryable, payment: Payment, cause: string, data: Record<string, unknown>) {
    await tx.query(
      `INSERT INTO payment_transitions (payment_id, seq, from_status, to_status, cause, data, at)
       VALUES ($1, (SELECT coalesce(max(seq), 0) + 1 FROM payment_transitions WHERE payment_id = $1), $2, $2, $3, $4, $5)`,
      [payment.id, payment.status, cause, JSON.stringify(data), this.clock.now()],
    );
  }

  private emit(tx: Queryable, payment: Payment, type: EventType, data: Record<string, unknown>) {
    return this.events.record(tx, {
      operatorId: payment.operator_id,
      type,
      subjectId: payment.id,
      data: { payment: presentPaymentForEvent(payment), ...data },
    });
  }
}

/**
 * A dispute Rampart applies by itself: of a pay-in not refunded (nor being refunded), for
 * all or part of it. Anything else (`invalid_value`) is left for a person, its provider
 * notice set aside.
 */
/**
 * Only an ACH debit or credit (a deposit or withdrawal by ACH) can be returned. A return
 * naming anything else (a card payment, a refund) is a processor's mix-up, and one of a
 * deposit refunded in part would take back what the refund already gave back: both are
 * refused (`invalid_value`), setting the notice aside for a person.
 */
function assertReturnable(payment: Payment, returnCode: string, refunded: bigint): void {
  if (payment.method !== 'ach' || (payment.kind !== 'deposit' && payment.kind !== 'withdrawal'))
    throw new RampartError('invalid_value', {
      field: 'return',
      provided: returnCode,
      expected: `an ACH deposit or withdrawal (${payment.id} is a ${payment.method} ${payment.kind})`,
    });
  refuseRefunded('return', returnCode, refunded);
}

/**
 * Money a refund gave back (or is giving back) is no longer all Rampart credited: news
 * taking the whole payment back (a return, a chargeback) would take it twice.
 */
function refuseRefunded(field: string, provided: string, refunded: bigint): void {
  if (refunded > 0n)
    throw new RampartError('invalid_value', {
      field,
      provided,
      expected: `a payment not refunded (${refunded} of it is refunded or being refunded)`,
    });
}

export function assertDisputable(
  payment: Payment,
  news: { disputeId: string; amount: bigint },
  /** What of it is refunded, or being refunded, where that decides (a loss). */
  refunded: bigint,
): void {
  if (PAY_OUT.includes(payment.kind))
    throw new RampartError('invalid_value', { field: 'dispute', provided: news.disputeId, expected: 'a pay-in' });
  refuseRefunded('dispute', news.disputeId, refunded);
  if (news.amount <= 0n || news.amount > payment.amount)
    throw new RampartError('invalid_value', {
      field: 'dispute.amount',
      provided: news.amount.toString(),
      expected: `a part of the payment, 1 to ${payment.amount}`,
    });
}

/**
 * Whether applying `outcome` to `payment` (as read, perhaps a moment ago) would change
 * nothing. Safe on a stale read: statuses only move forward (the table has no cycle),
 * so the news of a status the payment has already had cannot move it, and a provider
 * reference once set is never replaced; only a pending payment's next step could change.
 */
export function changesNothing(payment: Payment, outcome: ProviderOutcome): boolean {
  return payment.status === outcome.status && payment.provider_ref !== null && onlyConfirms(outcome);
}

/**
 * Whether `outcome` can only confirm a payment that already has its status: it brings
 * no next step for a pending payment (which could replace the one it has).
 */
export function onlyConfirms(outcome: ProviderOutcome): boolean {
  return !(outcome.nextAction && outcome.status === 'pending');
}

/** The action a user asked for with this payment; a refund is the operator's doing, and none. */
function actionOf(payment: Payment): Action {
  if (payment.kind === 'refund') throw new Error(`refund ${payment.id} is no user's action`);
  return payment.kind;
}

/** What a payment's call to its provider sends besides the payment: whose it is, and where from or to. */
interface Sending {
  user: EndUser;
  instrument?: Record<string, unknown>;
  returnUrl?: string | null;
}

const sendingOf = (input: CreatePayment): Sending => ({
  user: input.gates.user,
  instrument: input.instrument ?? {},
  returnUrl: input.returnUrl ?? null,
});

/** What a change of status sets besides the status, and an event to record with it. */
interface TransitionExtra {
  set?: Record<string, unknown>;
  event?: { type: EventType; data: Record<string, unknown> };
}

/** The constraint a unique violation names, if `error` is one. */
/** The condition on each part of `moveStatus`'s statement: the payment's row was changed. */
const IF_UPDATED = 'EXISTS (SELECT 1 FROM updated)';

/** An operator's limits for an action in a currency, in minor units; a limit not set is undefined. */
function limitsOf(
  settings: OperatorSettings,
  kind: Action,
  currency: Currency,
): { min: bigint | undefined; max: bigint | undefined; daily: bigint | undefined } {
  const limit = settings.limits[kind][currency.code];
  const bound = (value: string | undefined) =>
    value === undefined ? undefined : parseAmount(value, currency, 'limit');
  return { min: bound(limit?.min), max: bound(limit?.max), daily: bound(limit?.daily) };
}

/** A limit over a rolling window: the operator's daily one for everyone, or one of the user's own. */
interface LimitWindow {
  period: LimitPeriod;
  limit: bigint;
  own: boolean;
}

function limitWindows(daily: bigint | undefined, own: readonly LimitInForce[]): LimitWindow[] {
  return [
    ...(daily === undefined ? [] : [{ period: 'day' as const, limit: daily, own: false }]),
    ...own.map((limit) => ({ ...limit, own: true })),
  ];
}

/** Whose ledger accounts a payment moves: its operator's, in its mode (test money never meets live). */
interface AccountOwner {
  operatorId: string;
  mode: 'test' | 'live';
}
const ownerOf = (payment: Payment): AccountOwner => ({ operatorId: payment.operator_id, mode: payment.mode });

/**
 * When the payment was last handed towards its provider: by its create, or since by a
 * retry resuming it or an approval after review (`sent_at`).
 */
function sentAt(payment: Payment): number {
  return new Date(payment.sent_at ?? payment.created_at).getTime();
}

/** Approved by hand after review and not yet answered by its provider: what `approveReview` may resume. */
const approvedAfterReview = (p: Payment) =>
  p.status === 'pending' &&
  p.provider_ref === null &&
  p.approval?.['source'] === 'review' &&
  p.approval['approved'] === true;

/** A withdrawal the operator's approver put to review: `created`, held, sent nowhere until decided by hand. */
export const underReview = (p: Payment) => p.status === 'created' && p.approval?.['approved'] === null;

/** Not yet with its provider (no answer from it): a withdrawal may also have been approved (`pending`). */

export const awaitsProvider = (p: Payment) =>
  p.provider_ref === null &&
  ((p.status === 'created' && !underReview(p)) || (PAY_OUT.includes(p.kind) && p.status === 'pending'));

/** An error of a call that never left Rampart: it cannot have moved anything. */
const neverSent = (error: RampartError): boolean => NEVER_SENT.includes(String(error.details['reason']));

/** What a user's standing (`enforceStanding`) reads of them, read again where money moves. */
const STANDING_COLUMNS = 'blocked_at, blocked_reason, kyc_status, kyc_reason';
type Standing = Pick<EndUser, 'blocked_at' | 'blocked_reason' | 'kyc_status' | 'kyc_reason'>;

/** A pay-out its operator's approver has not yet answered for, nor a review held: still `created`, sent nowhere. */
const awaitingApproval = (p: Payment): boolean => p.status === 'created' && awaitsProvider(p);

/** Holds due to expire that an open payment depends on; through `payments_open`, which holds only open payments. */
export const DUE_HOLDS_OF_OPEN_PAYMENTS_SQL = `SELECT p.hold_id FROM payments p
  WHERE p.status IN ('created', 'pending', 'processing')
    AND p.hold_id IN (SELECT h.id FROM ledger_holds h WHERE h.status = 'pending' AND h.expires_at <= $1)`;

/** Payments reconciliation asks about, oldest first: read through `payments_open`, never by a scan. */
export const OPEN_PAYMENTS_SQL = `SELECT * FROM payments
  WHERE ((status IN ('pending', 'processing') AND updated_at < $1) OR (status = 'created' AND updated_at < $2))
    -- Under review (see \`underReview\`): sent nowhere, so no provider to ask; its review ends it.
    AND NOT (status = 'created' AND coalesce(approval @> '{"approved": null}', false))
  ORDER BY updated_at LIMIT $3`;

const uniqueViolation = (error: unknown) =>
  (error as { code?: string }).code === '23505' ? (error as { constraint?: string }).constraint : undefined;

/** A value as a query parameter: JSON columns take objects as JSON text. */
const asParameter = (value: unknown) =>
  value !== null && typeof value === 'object' && !(value instanceof Date) ? JSON.stringify(value) : value;

/** Card numbers and account numbers are never stored whole. */
export function redactInstrument(instrument: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(instrument)) {
    if (typeof value === 'string' && /^(card_number|account_number|cvc|cvv)$/.test(key)) {
      out[key === 'cvc' || key === 'cvv' ? key : `${key}_last4`] =
        key === 'cvc' || key === 'cvv' ? '[redacted]' : value.slice(-4);
    } else out[key] = value;
  }
  return out;
}

export function presentPaymentForEvent(payment: Payment) {
  return {
    id: payment.id,
    mode: payment.mode,
    status: payment.status,
    kind: payment.kind,
    method: payment.method,
    provider: payment.provider,
    user_id: payment.user_id,
    amount: payment.amount.toString(),
    fee: payment.fee.toString(),
    currency: payment.currency,
    network: payment.network,
    reference: payment.reference,
    failure_code: payment.failure_code,
    refund_of: payment.refund_of ?? null,
    amount_refunded: (payment.amount_refunded ?? 0n).toString(),
  };
}
