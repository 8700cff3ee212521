import type { EventType } from './catalog.ts';

/**
 * JSON Schema (2020-12, as OpenAPI 3.1 uses it) of the `data` of every event type. They
 * become the OpenAPI document's `webhooks`. A type's payload may gain fields (receivers
 * must ignore unknown ones); removing or changing one needs a new API_VERSION.
 * The module that records an event owns its schema: tighten it together with the payload.
 */
export type JsonSchema = Readonly<Record<string, unknown>>;

const id = (description: string): JsonSchema => ({ type: 'string', description });
const nullable = (type: string, description: string): JsonSchema => ({ type: [type, 'null'], description });
const timestamp = (description: string): JsonSchema => ({ type: 'string', format: 'date-time', description });

function object(properties: Record<string, JsonSchema>, required: readonly string[]): JsonSchema {
  return { type: 'object', properties, required, additionalProperties: true };
}

const session = object(
  {
    session_id: id('The session, `ses_…`.'),
    user_id: id("The end user, the operator's own id."),
    operation: { type: 'string', description: 'deposit, withdrawal, buy or sell (on session.created).' },
    source: { type: 'string', description: 'How it was created: server or operator_token (on session.created).' },
  },
  ['session_id', 'user_id'],
);

const user = object(
  {
    user_id: id("The end user, the operator's own id."),
    reason: nullable('string', 'Why, on user.blocked.'),
  },
  ['user_id'],
);

/** The payment as it is after the change; the same object in every payment and withdrawal event. */
const paymentObject = object(
  {
    id: id('The payment, `pay_…`.'),
    mode: {
      type: 'string',
      enum: ['test', 'live'],
      description: 'test: made with a test key or session, in the sandbox; no real money moves.',
    },
    status: { type: 'string', description: 'The payment status after the change (one enum for every channel).' },
    kind: { type: 'string', description: 'deposit, withdrawal, buy, sell or refund.' },
    method: { type: 'string', description: 'Payment method, e.g. bank, card, ach, crypto.' },
    provider: nullable('string', 'The provider handling it.'),
    user_id: id("The end user, the operator's own id."),
    amount: { type: 'string', pattern: '^-?\\d+$', description: 'Minor units of `currency`, as a decimal string.' },
    fee: { type: 'string', pattern: '^\\d+$', description: "The operator's fee, in minor units of `currency`." },
    currency: { type: 'string', description: 'ISO 4217 or asset code.' },
    network: nullable('string', 'Crypto network, where there is one.'),
    reference: nullable('string', "The operator's reference."),
    failure_code: nullable('string', 'The catalog error code, on payment.failed and payment.reversed.'),
    refund_of: nullable('string', 'A refund: the deposit it pays back, `pay_…`.'),
    amount_refunded: {
      type: 'string',
      pattern: '^\\d+$',
      description: 'A deposit: its completed refunds so far, in minor units of `currency`.',
    },
  },
  ['id', 'mode', 'status', 'kind', 'amount', 'currency'],
);

const payment = object(
  {
    payment: paymentObject,
    reason: {
      type: 'string',
      description: 'Why, where the change has one (e.g. provider_timeout on payment.pending).',
    },
  },
  ['payment'],
);

/** A provider's contradiction of how a payment ended, as the API and its events show it. */
export const discrepancyObject = object(
  {
    id: id('The discrepancy, `dsc_…`.'),
    object: { type: 'string', const: 'payment_discrepancy' },
    payment_id: id('The payment, `pay_…`.'),
    provider: id('The provider that reported it.'),
    provider_ref: nullable('string', "The provider's id of the payment, where Rampart has it."),
    recorded_status: { type: 'string', description: "The payment's status when the provider's news came." },
    reported_status: { type: 'string', description: 'The status the provider reported instead.' },
    source: {
      type: 'string',
      description: 'Where the news came from: a provider webhook (with its id) or reconciliation.',
    },
    status: { type: 'string', enum: ['open', 'resolved'] },
    detected_at: timestamp('When Rampart recorded it.'),
    resolved_at: { type: ['string', 'null'], format: 'date-time', description: 'When the operator resolved it.' },
    resolution: nullable('string', 'What the operator did about it, in their words.'),
  },
  [
    'id',
    'object',
    'payment_id',
    'provider',
    'recorded_status',
    'reported_status',
    'source',
    'status',
    'detected_at',
    'resolved_at',
    'resolution',
  ],
);

/** A cardholder's dispute of a card payment (a chargeback), as the payment resource shows it. */
export const disputeObject = object(
  {
    id: id("The card processor's id of the dispute."),
    reason: { type: 'string', description: "The card network's category, e.g. fraudulent, product_not_received." },
    status: {
      type: 'string',
      enum: ['open', 'won', 'lost'],
      description: 'open until the card network decides: won (the payment stands) or lost (a chargeback).',
    },
    amount: {
      type: 'string',
      pattern: '^\\d+$',
      description:
        'What the cardholder disputes, in minor units: the whole payment, or part of it (lost, only that part goes back).',
    },
    opened_at: timestamp('When Rampart heard of it.'),
    closed_at: { type: ['string', 'null'], format: 'date-time', description: 'When it was decided.' },
  },
  ['id', 'reason', 'status', 'opened_at', 'closed_at'],
);

const withdrawalApproval = object(
  {
    payment: paymentObject,
    source: {
      type: 'string',
      description:
        'Who decided: operator (the approval endpoint), default (no answer: on_no_answer), review (decided by hand) or review_expired.',
    },
    expires_at: {
      type: 'string',
      format: 'date-time',
      description: 'On review_requested: when an undecided review is declined.',
    },
    reason_code: { type: 'integer', minimum: 1, maximum: 9, description: "On decline: the operator's reason (1-9)." },
    code: { type: 'string', description: 'On decline: the catalog error code the reason maps to.' },
  },
  ['payment'],
);

export const eventSchemas: Readonly<Record<EventType, JsonSchema>> = {
  'session.created': session,
  'session.exchanged': session,
  'session.cancelled': session,
  'session.expired': session,
  'user.created': user,
  'user.updated': user,
  'user.blocked': user,
  'user.unblocked': user,
  'user.limits_changed': object(
    {
      user_id: id("The end user, the operator's own id."),
      limits: {
        type: 'array',
        description: 'The limits after the change, as `GET /v1/users/{id}/limits` shows them.',
        items: { type: 'object' },
      },
    },
    ['user_id', 'limits'],
  ),
  'kyc.status_changed': object(
    {
      user_id: id("The end user, the operator's own id."),
      from: { type: 'string', description: 'The KYC status before.' },
      to: {
        type: 'string',
        enum: ['not_started', 'pending', 'verified', 'failed', 'reverification_required'],
        description: 'The KYC status after the change.',
      },
      reason: nullable('string', 'Why, where the provider said.'),
    },
    ['user_id', 'from', 'to'],
  ),
  'gate.changed': object(
    {
      user_id: id("The end user, the operator's own id."),
      gate: { type: 'string', description: 'terms, email-verify or phone-verify.' },
      completed: { type: 'boolean', description: 'Whether the user has now passed the gate.' },
      version: { type: 'string', description: 'On terms: the version accepted.' },
    },
    ['user_id', 'gate', 'completed'],
  ),
  'payment.created': payment,
  'payment.pending': payment,
  'payment.processing': payment,
  'payment.completed': payment,
  'payment.failed': payment,
  'payment.cancelled': payment,
  'payment.reversed': payment,
  'payment.limit_exceeded': object(
    {
      payment: paymentObject,
      limit: {
        type: 'string',
        enum: ['max', 'daily', 'user_day', 'user_week', 'user_month'],
        description:
          'Which limit: one payment’s maximum, the rolling 24 hours, or one of the user’s own limits (rolling day, week, month).',
      },
      limit_amount: { type: 'string', description: 'The limit, decimal in the currency’s major unit.' },
      amount: {
        type: 'string',
        description:
          'What the limit was measured against: the payment (max), or the user’s payments in the window with it.',
      },
    },
    ['payment', 'limit', 'limit_amount', 'amount'],
  ),
  'payment.refunded': object(
    {
      payment: paymentObject,
      refund: paymentObject,
      amount_refunded: {
        type: 'string',
        pattern: '^\\d+$',
        description: 'The deposit’s completed refunds, this one included, in minor units.',
      },
    },
    ['payment', 'refund', 'amount_refunded'],
  ),
  'payment.disputed': object({ payment: paymentObject, dispute: disputeObject }, ['payment', 'dispute']),
  'payment.dispute_closed': object({ payment: paymentObject, dispute: disputeObject }, ['payment', 'dispute']),
  'payment.discrepancy': object({ payment: paymentObject, discrepancy: discrepancyObject }, ['payment', 'discrepancy']),
  'payment.discrepancy_resolved': object({ discrepancy: discrepancyObject }, ['discrepancy']),
  'withdrawal.approval_requested': withdrawalApproval,
  'withdrawal.review_requested': withdrawalApproval,
  'withdrawal.approved': withdrawalApproval,
  'withdrawal.declined': withdrawalApproval,
  'ach.returned': object(
    {
      payment: paymentObject,
      payment_id: id('The returned payment.'),
      return_code: { type: 'string', pattern: '^R\\d{2}$', description: 'NACHA return code, e.g. R01.' },
    },
    ['return_code'],
  ),
  'balance.adjusted': object(
    {
      user_id: id("The end user, the operator's own id."),
      adjustment_id: id('The ledger transfer that moved the money, `tr_…`.'),
      direction: { type: 'string', enum: ['credit', 'debit'] },
      amount: { type: 'string', description: 'Decimal, in the currency’s major unit.' },
      currency: { type: 'string' },
      reason: { type: 'string' },
      reference: id('The operator’s own reference of the adjustment.'),
      available: { type: 'string', description: 'The user’s available balance after it.' },
    },
    ['user_id', 'adjustment_id', 'direction', 'amount', 'currency', 'reference'],
  ),
  'webhook_endpoint.disabled': object(
    {
      endpoint_id: id('The endpoint, `we_…`.'),
      url: { type: 'string', format: 'uri' },
      reason: { type: 'string', enum: ['failing'], description: 'Every attempt failed for the configured period.' },
      failing_since: timestamp('The first failed attempt of the streak.'),
    },
    ['endpoint_id', 'url', 'reason', 'failing_since'],
  ),
  'webhook.delivery_exhausted': object(
    {
      delivery_id: id('The delivery, `dlv_…`.'),
      endpoint_id: id('The endpoint, `we_…`.'),
      event_id: id('The event that was not delivered.'),
      event_type: { type: 'string' },
      attempts: { type: 'integer', minimum: 1 },
      last_status_code: nullable('integer', 'HTTP status of the last attempt; null when none came.'),
      last_error: nullable('string', 'Why the last attempt failed without a response.'),
    },
    ['delivery_id', 'endpoint_id', 'event_id', 'event_type', 'attempts'],
  ),
  'webhook.test': object({ endpoint_id: id('The endpoint tested, `we_…`.'), message: { type: 'string' } }, [
    'endpoint_id',
  ]),
};
