import type { ErrorCode } from '@rampart/errors';
import type { KeyMode } from '../operators/api-keys.ts';
import type { Action } from '../settings/operator-settings.ts';
import type { EndUser } from '../users/end-users.ts';

export const PAYMENT_METHODS = ['bank', 'card', 'ach', 'crypto'] as const;
export type PaymentMethod = (typeof PAYMENT_METHODS)[number];

/**
 * What a payment does: an action a user asks for (deposit, withdrawal, buy, sell), or a
 * refund the operator makes of a deposit (paid back to the card or bank account it came from).
 */
export const PAYMENT_KINDS = ['deposit', 'withdrawal', 'buy', 'sell', 'refund'] as const;
export type PaymentKind = Action | 'refund';

/** What the user must do next for a pending payment. */
export type NextAction =
  | { type: 'redirect'; url: string }
  | { type: 'crypto_address'; address: string; network: string; amount: string };

/** A provider's view of a payment, already mapped onto Rampart's statuses by the connector. */
export interface ProviderOutcome {
  providerRef: string;
  status: 'pending' | 'processing' | 'completed' | 'failed';
  nextAction?: NextAction | null;
  failure?: { code: ErrorCode; message?: string; details?: Record<string, unknown> };
  /**
   * What actually moved, in the payment's minor units, where the provider reports it (a
   * crypto deposit: what arrived on chain, which the sender chose). A pay-in completes
   * for this amount, not the one asked. A decimal string of minor units: outcomes are
   * recorded as JSON (provider events).
   */
  amount?: string;
  /**
   * The asset `amount` is in, where the provider names it. One other than the payment's
   * is a provider's mix-up, never a conversion: the outcome is not applied.
   */
  amountAsset?: { currency: string; network: string | null };
}

export interface ProviderRequest {
  paymentId: string;
  operatorId: string;
  kind: PaymentKind;
  method: PaymentMethod;
  /** Minor units, with the currency's exponent. */
  amount: bigint;
  currency: string;
  network: string | null;
  user: EndUser;
  /** Where the provider sends the user back to, and where it reports status changes. */
  returnUrl: string | null;
  /**
   * Card, bank account or crypto address details the user gave; for a refund,
   * `{ payment: <the provider's id of the payment refunded> }`.
   */
  instrument: Record<string, unknown>;
  /**
   * Sent as the provider's idempotency key: a retried call never moves money twice.
   * Payments use the payment id, so `lookup` can find by it what the call created.
   */
  idempotencyKey: string;
}

/**
 * A payment provider as payments need it. Connectors implement it over HTTP and map
 * the provider's wire statuses and errors exhaustively; anything they cannot map is
 * an internal error. Upstream faults are thrown as `upstream_*` RampartErrors.
 */
export interface PaymentProvider {
  readonly id: string;
  supports(kind: Action, method: PaymentMethod, currency: string, network: string | null): boolean;
  /** Deposits and buys. */
  payIn(request: ProviderRequest): Promise<ProviderOutcome>;
  /** Withdrawals, sells and refunds (a refund only where `refunds` says the provider makes them). */
  payOut(request: ProviderRequest): Promise<ProviderOutcome>;
  /** Whether the provider refunds payments of this method (paid back to where they came from). */
  refunds?(method: PaymentMethod): boolean;
  /** The provider's current view, for reconciliation after an unknown outcome. */
  fetch(providerRef: string, kind: PaymentKind, method: PaymentMethod): Promise<ProviderOutcome>;
  /**
   * The provider's current view of the payment Rampart created with this id (sent as
   * the reference or idempotency key of the create call), for reconciling a payment
   * whose create call timed out before Rampart learnt the provider's id. Mapped as
   * `fetch` maps it. Null only when the provider answers that it has no such payment:
   * the create never reached it — or has not yet, so ask once the create call is well
   * over. Anything short of that answer (faults, unknown routes) throws.
   */
  lookup(paymentId: string, kind: PaymentKind, method: PaymentMethod): Promise<ProviderOutcome | null>;
  /**
   * Asks the provider to cancel a payment it knows and has not completed, and answers
   * its view afterwards, mapped as `fetch` maps it: `failed` (nothing moved) if it
   * cancelled, or where the payment is if it would not (already paid, or past the
   * point of cancelling). A provider with no way to cancel answers its view unchanged.
   */
  cancel(providerRef: string, kind: PaymentKind, method: PaymentMethod): Promise<ProviderOutcome>;
}

/**
 * The providers each mode reaches. They are wired apart so that no configuration
 * mistake can send test money to a real provider, or let a sandbox "complete" a live
 * payment: `npm start` gives the sandbox to test mode alone.
 */
export type ProvidersByMode = Readonly<Partial<Record<KeyMode, readonly PaymentProvider[]>>>;

/**
 * Errors after which another provider may be tried, once the first one, asked by
 * Rampart's id, says it has no such payment (a 5xx or an unreadable answer can come
 * after the work was done). A timeout is not one of them: the request may still be
 * in progress.
 */
/** `details.reason`s of an `upstream_unavailable` for a call that never left Rampart. */
export const NEVER_SENT: readonly string[] = ['circuit_open', 'connection_refused'];

export const FALLBACK_ERRORS: readonly ErrorCode[] = [
  'upstream_unavailable',
  'upstream_error',
  'upstream_invalid_response',
  'provider_error',
];

/** A provider webhook, verified and mapped by its connector. */
export interface ProviderNotice {
  /** The provider's event id: redeliveries carry the same one and are applied once. */
  eventId: string;
  subject: /** `paymentId`: Rampart's id echoed by the provider, to match a payment whose create call timed out. */
    | { type: 'payment'; providerRef: string; paymentId?: string; outcome: ProviderOutcome }
    /** A completed debit returned by the bank (ACH), with its NACHA return code. */
    | { type: 'payment_return'; providerRef: string; returnCode: string; description: string | null }
    /**
     * A card payment its cardholder disputed with their bank (a chargeback): `open` when
     * the dispute is opened, then `won` (the payment stands) or `lost` (the money goes
     * back to the cardholder for good), as the card network decides. `reason` is the
     * network's category, in the provider's words (`fraudulent`, `product_not_received`, …);
     * `amount` what is disputed, in minor units; `outcome` the payment as the provider
     * has it (only a succeeded payment can be disputed).
     */
    | {
        type: 'dispute';
        providerRef: string;
        disputeId: string;
        status: 'open' | 'won' | 'lost';
        reason: string;
        amount: string;
        outcome: ProviderOutcome;
      }
    | {
        type: 'kyc';
        applicantId: string;
        status: 'pending' | 'verified' | 'failed' | 'reverification_required';
        reason: string | null;
        /** When the provider reached this verdict (ISO 8601), where it says: older news is not applied over newer. */
        at?: string;
      }
    /** An event Rampart has no use for (e.g. an intermediate state it does not track). */
    | { type: 'ignored'; reason: string };
}

/** Verifies and reads a provider's inbound webhooks. */
export interface WebhookSource {
  readonly id: string;
  /**
   * Checks the signature over the exact raw body and maps the event. A bad or stale
   * signature throws `invalid_token`; a body it cannot read throws `validation_error`.
   */
  readWebhook(headers: Readonly<Record<string, string | string[] | undefined>>, rawBody: string): ProviderNotice;
}
