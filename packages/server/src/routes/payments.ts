import {
  awaitsProvider,
  type Compliance,
  type CreatePayment,
  type Currency,
  dateTimeOf,
  disputeObject,
  type EndUser,
  type EndUsers,
  findCurrency,
  formatAmount,
  MAX_AMOUNT_INPUT_LENGTH,
  PAYMENT_KINDS,
  PAYMENT_METHODS,
  PAYMENT_STATUSES,
  type Payment,
  type PaymentDispute,
  type PaymentMethod,
  type PaymentStatus,
  type Payments,
  REFUND_REASONS,
  type RefundReason,
  type Subject,
} from '@rampart/core';
import { RampartError } from '@rampart/errors';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { widgetReturnUrl } from '../http/widget-auth.ts';
import { cursorPage, idParam, limitQuery } from './schemas.ts';

export const paymentSchema = {
  $id: 'Payment',
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { type: 'string', const: 'payment' },
    mode: {
      type: 'string',
      enum: ['test', 'live'],
      description: 'test: made with a test key (or a test session), in the sandbox; no real money moves.',
    },
    kind: {
      type: 'string',
      enum: [...PAYMENT_KINDS],
      description: 'refund: your refund of a deposit (`refund_of`), paid back to the card or bank account it came from',
    },
    method: { type: 'string', enum: [...PAYMENT_METHODS] },
    status: { type: 'string', enum: [...PAYMENT_STATUSES] },
    provider: { type: 'string' },
    user_id: { type: 'string' },
    session_id: { type: ['string', 'null'] },
    amount: { type: 'string', description: 'Decimal, in the currency’s major unit' },
    amount_minor: { type: 'string', description: 'Integer minor units (string: may exceed 2^53)' },
    fee: {
      type: 'string',
      description:
        'Your fee (settings `fees`), decimal: out of what a deposit or buy credits the user, or debited on top of what a withdrawal or sell pays out; on a refund, the part of its deposit’s fee it gives back (the user is debited the amount less it)',
    },
    fee_minor: { type: 'string', description: 'The fee in integer minor units' },
    currency: { type: 'string' },
    network: { type: ['string', 'null'] },
    reference: { type: ['string', 'null'] },
    next_action: { type: ['object', 'null'], additionalProperties: true },
    failure: {
      type: ['object', 'null'],
      properties: { code: { type: 'string' }, message: { type: ['string', 'null'] } },
    },
    approval: { type: ['object', 'null'], additionalProperties: true },
    dispute: {
      ...disputeObject,
      properties: {
        ...(disputeObject['properties'] as Record<string, unknown>),
        amount: { type: 'string', description: 'What the cardholder disputes, decimal: all or part of the payment' },
        amount_minor: { type: 'string', description: 'The same in integer minor units' },
      },
      type: ['object', 'null'],
      description: "Its cardholder's dispute with their bank (a chargeback), as the card processor last reported it",
    },
    destination: { type: 'object', additionalProperties: true },
    metadata: { type: 'object', additionalProperties: true },
    refund_of: { type: ['string', 'null'], description: 'A refund: the deposit it pays back' },
    amount_refunded: {
      type: 'string',
      description: 'A deposit: its completed refunds, decimal (in progress ones are listed with `refund_of`)',
    },
    timeline: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          from: { type: ['string', 'null'] },
          to: { type: 'string' },
          cause: { type: 'string' },
          at: { type: 'string', format: 'date-time' },
        },
      },
    },
    created_at: { type: 'string', format: 'date-time' },
    updated_at: { type: 'string', format: 'date-time' },
  },
  required: ['id', 'object', 'kind', 'status', 'amount', 'currency'],
} as const;

/** A cached payment's JSON, for as long as the cache holds that very object. */
const serializedResources = new WeakMap<object, ReturnType<FastifyReply['serialize']>>();

export function presentPayment(payment: Payment, timeline?: Awaited<ReturnType<Payments['timeline']>>) {
  const currency = findCurrency(payment.currency);
  return {
    id: payment.id,
    object: 'payment',
    mode: payment.mode,
    kind: payment.kind,
    method: payment.method,
    status: payment.status,
    provider: payment.provider,
    user_id: payment.user_id,
    session_id: payment.session_id,
    amount: currency ? formatAmount(payment.amount, currency) : payment.amount.toString(),
    amount_minor: payment.amount.toString(),
    fee: currency ? formatAmount(payment.fee, currency) : payment.fee.toString(),
    fee_minor: payment.fee.toString(),
    currency: payment.currency,
    network: payment.network,
    reference: payment.reference,
    next_action: payment.next_action,
    failure: payment.failure_code ? { code: payment.failure_code, message: payment.failure_message } : null,
    approval: payment.approval,
    dispute: payment.dispute && presentDispute(payment.dispute, currency),
    destination: payment.destination,
    metadata: payment.metadata,
    refund_of: payment.refund_of,
    amount_refunded: currency ? formatAmount(payment.amount_refunded, currency) : payment.amount_refunded.toString(),
    ...(timeline
      ? { timeline: timeline.map((t) => ({ from: t.from_status, to: t.to_status, cause: t.cause, at: t.at })) }
      : {}),
    created_at: payment.created_at,
    updated_at: payment.updated_at,
  };
}

/** A dispute as the API shows amounts: decimal, and in minor units beside (events carry minor units alone). */
function presentDispute(dispute: PaymentDispute, currency: Currency | undefined) {
  const { amount, ...rest } = dispute;
  if (amount === undefined) return rest;
  return {
    ...rest,
    amount: currency ? formatAmount(BigInt(amount), currency) : amount,
    amount_minor: amount,
  };
}

/**
 * A payment as the end user's widget sees it: without the operator's own fields (its
 * reference and metadata may hold what the user must not read, such as a risk note).
 * The widget may be answered a payment the operator made: the open crypto deposit to
 * the user's address, shared by every request for that asset.
 */
function presentForWidget(payment: Payment) {
  return { ...presentPayment(payment), reference: null, metadata: {} };
}

const createBody = (partner: boolean) =>
  ({
    type: 'object',
    additionalProperties: false,
    required: ['method', 'amount', 'currency', ...(partner ? ['user_id', 'kind'] : [])],
    properties: {
      // The operator's own fields: an end user in the widget can neither take an
      // operator reference (the operator's own create with it would then conflict, and
      // a lookup by it find the user's payment) nor write the operator's metadata.
      ...(partner
        ? {
            user_id: { type: 'string', minLength: 1, maxLength: 128 },
            client_ip: { type: 'string', maxLength: 45 },
            reference: { type: 'string', minLength: 1, maxLength: 128 },
            metadata: { type: 'object', maxProperties: 50 },
          }
        : {}),
      kind: { type: 'string', enum: ['deposit', 'withdrawal', 'buy', 'sell'] },
      method: { type: 'string', enum: [...PAYMENT_METHODS] },
      amount: {
        type: 'string',
        maxLength: MAX_AMOUNT_INPUT_LENGTH,
        description: 'Decimal string in the major unit, e.g. "25.00"',
      },
      currency: { type: 'string', pattern: '^[A-Za-z0-9]{2,10}$' },
      network: { type: 'string', pattern: '^[A-Za-z0-9_]{2,20}$' },
      provider: { type: 'string', pattern: '^[a-z0-9_]{1,32}$' },
      return_url: {
        type: 'string',
        maxLength: 2048,
        description: partner
          ? "Where the provider's page (bank login, 3-D Secure) sends the user back."
          : "Where the provider's page sends the user back: the session's redirect_url (the default) or a URL on its origin.",
      },
      instrument: {
        type: 'object',
        maxProperties: 20,
        additionalProperties: { type: ['string', 'number', 'boolean'] },
      },
    },
  }) as const;

interface CreateBody {
  user_id?: string;
  client_ip?: string;
  kind?: CreatePayment['kind'];
  method: PaymentMethod;
  amount: string;
  currency: string;
  network?: string;
  provider?: string;
  reference?: string;
  return_url?: string;
  instrument?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
}

/**
 * The key a payment is recorded under. An Idempotency-Key is its sender's own (as in
 * `idempotentPosts`): the operator's keys are the operator's, a widget session's are
 * that session's. Payments are unique per operator and mode, so a widget session's key
 * is recorded within the session: another session, or the operator, may use the same
 * string for a payment of its own, and is never answered with this one.
 */
function paymentKeyOf(request: FastifyRequest, subject: Subject): string | null {
  const header = request.headers['idempotency-key'];
  if (typeof header !== 'string') return null;
  return subject.id ? `session:${subject.id}:${header}` : header;
}

async function createFrom(
  request: FastifyRequest,
  body: CreateBody,
  subject: Subject & { kind: CreatePayment['kind'] },
  deps: { payments: Payments; compliance: Compliance },
  user?: EndUser,
) {
  const key = paymentKeyOf(request, subject);
  // A retry of a request that ended unanswered (a 5xx, or its server died): the payment
  // that request made is the answer, whatever gate or limit changed since; one it left
  // before its provider answered is sent on by this request, its gates checked again.
  const earlier =
    key && request.idempotency?.takenOver
      ? await deps.payments.byIdempotencyKey(subject.operator_id, subject.mode, key)
      : undefined;
  if (earlier && !awaitsProvider(earlier)) return earlier;
  const input: CreatePayment = {
    operatorId: subject.operator_id,
    mode: subject.mode,
    kind: subject.kind,
    method: body.method,
    amount: body.amount,
    currency: body.currency,
    network: body.network ?? null,
    ...(body.provider ? { provider: body.provider } : {}),
    sessionId: subject.id ?? null,
    reference: body.reference ?? null,
    idempotencyKey: key,
    instrument: body.instrument ?? {},
    metadata: body.metadata ?? {},
    returnUrl: body.return_url ?? null,
    gates: await deps.compliance.context(subject, request.ip, user),
  };
  return earlier ? deps.payments.resume(earlier, input) : deps.payments.create(input);
}

interface RefundBody {
  amount?: string;
  reason?: RefundReason;
  reference?: string;
  metadata?: Record<string, unknown>;
}

const quoteSchema = {
  type: 'object',
  properties: {
    object: { type: 'string', const: 'quote' },
    kind: { type: 'string' },
    currency: { type: 'string' },
    amount: { type: 'string' },
    fee: { type: 'string', description: 'Your fee on this amount (settings `fees`)' },
    direction: { type: 'string', enum: ['credit', 'debit'] },
    net: {
      type: 'string',
      description:
        "What the user's balance moves by: a deposit or buy credits amount - fee, a withdrawal or sell debits amount + fee",
    },
  },
  required: ['object', 'kind', 'currency', 'amount', 'fee', 'direction', 'net'],
} as const;

const quoteQuery = (withKind: boolean) =>
  ({
    type: 'object',
    additionalProperties: false,
    required: [...(withKind ? ['kind'] : []), 'amount', 'currency'],
    properties: {
      ...(withKind ? { kind: { type: 'string', enum: ['deposit', 'withdrawal', 'buy', 'sell'] } } : {}),
      amount: { type: 'string', maxLength: MAX_AMOUNT_INPUT_LENGTH },
      currency: { type: 'string', maxLength: 16 },
      network: { type: 'string', maxLength: 16 },
    },
  }) as const;

interface QuoteQuery {
  kind?: CreatePayment['kind'];
  amount: string;
  currency: string;
  network?: string;
}

async function quoteFor(payments: Payments, operatorId: string, kind: CreatePayment['kind'], q: QuoteQuery) {
  const quote = await payments.quote(operatorId, {
    kind,
    amount: q.amount,
    currency: q.currency,
    network: q.network ?? null,
  });
  return { object: 'quote', ...quote };
}

export function partnerPaymentRoutes(
  app: FastifyInstance,
  deps: { payments: Payments; compliance: Compliance; users: EndUsers },
): void {
  app.post<{ Body: CreateBody }>(
    '/v1/payments',
    {
      schema: {
        tags: ['payments'],
        summary: 'Create a deposit, withdrawal, buy or sell for an end user',
        body: createBody(true),
        response: { 201: { $ref: 'Payment#' } },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const user = await deps.users.ensure(request.operator.operatorId, body.user_id!);
      const payment = await createFrom(
        request,
        body,
        {
          operator_id: request.operator.operatorId,
          user_id: body.user_id!,
          mode: request.operator.mode,
          client_ip: body.client_ip ?? null,
          kind: body.kind!,
        },
        deps,
        user,
      );
      return reply.code(201).send(presentPayment(payment));
    },
  );

  app.get<{ Querystring: QuoteQuery }>(
    '/v1/payments/quote',
    {
      schema: {
        tags: ['payments'],
        summary: 'The fee on a payment before it is made, and what it moves the user’s balance by',
        querystring: quoteQuery(true),
        response: { 200: quoteSchema },
      },
    },
    async (request) => quoteFor(deps.payments, request.operator.operatorId, request.query.kind!, request.query),
  );

  app.get<{ Params: { id: string } }>(
    '/v1/payments/:id',
    {
      schema: {
        tags: ['payments'],
        summary: 'A payment with its timeline',
        params: idParam,
        response: { 200: { $ref: 'Payment#' } },
      },
    },
    async (request, reply) => {
      const resource = await deps.payments.getWithTimeline(request.operator.operatorId, request.params.id);
      // Polling asks for the same payment over and over: while it is unchanged (the same
      // cached object) its JSON is made once, by this route's own serializer.
      let body = serializedResources.get(resource);
      if (body === undefined) {
        body = reply.serialize(presentPayment(resource.payment, resource.timeline));
        serializedResources.set(resource, body);
      }
      return reply.type('application/json; charset=utf-8').send(body);
    },
  );

  app.get<{ Params: { reference: string } }>(
    '/v1/payments/by_reference/:reference',
    {
      schema: {
        tags: ['payments'],
        summary: 'A payment by your own reference',
        params: {
          type: 'object',
          required: ['reference'],
          properties: { reference: { type: 'string', maxLength: 128 } },
        },
        response: { 200: { $ref: 'Payment#' } },
      },
    },
    async (request) => {
      const payment = await deps.payments.byReference(request.operator.operatorId, request.params.reference);
      return presentPayment(payment, await deps.payments.timeline(payment.id));
    },
  );

  app.get<{
    Querystring: {
      status?: PaymentStatus;
      kind?: Payment['kind'];
      refund_of?: string;
      user_id?: string;
      in_review?: 'true';
      currency?: string;
      provider?: string;
      created_from?: string;
      created_to?: string;
      starting_after?: string;
      limit?: number;
    };
  }>(
    '/v1/payments',
    {
      schema: {
        tags: ['payments'],
        summary: 'Payments, newest first, cursor-paginated',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            status: { type: 'string', enum: [...PAYMENT_STATUSES] },
            kind: { type: 'string', enum: [...PAYMENT_KINDS] },
            refund_of: { type: 'string', maxLength: 64, description: 'Only the refunds of this deposit' },
            user_id: { type: 'string', maxLength: 128 },
            in_review: { type: 'string', enum: ['true'], description: 'Only withdrawals waiting for your review' },
            currency: { type: 'string', maxLength: 16 },
            provider: { type: 'string', maxLength: 64 },
            created_from: { type: 'string', format: 'date-time', description: 'Made at or after this time' },
            created_to: { type: 'string', format: 'date-time', description: 'Made before this time' },
            starting_after: { type: 'string', maxLength: 64 },
            limit: limitQuery(25),
          },
        },
      },
    },
    async (request) => {
      const q = request.query;
      const limit = q.limit ? Number(q.limit) : 25;
      const rows = await deps.payments.list(request.operator.operatorId, {
        ...(q.status ? { status: q.status } : {}),
        ...(q.kind ? { kind: q.kind } : {}),
        ...(q.refund_of ? { refundOf: q.refund_of } : {}),
        ...(q.user_id ? { userId: q.user_id } : {}),
        ...(q.in_review ? { inReview: true } : {}),
        ...(q.currency ? { currency: q.currency.toUpperCase() } : {}),
        ...(q.provider ? { provider: q.provider } : {}),
        ...(q.created_from ? { createdFrom: dateTimeOf('created_from', q.created_from) } : {}),
        ...(q.created_to ? { createdTo: dateTimeOf('created_to', q.created_to) } : {}),
        ...(q.starting_after ? { before: q.starting_after } : {}),
        limit: limit + 1,
      });
      return cursorPage(rows, limit, (p) => presentPayment(p));
    },
  );

  app.post<{ Params: { id: string }; Body: RefundBody }>(
    '/v1/payments/:id/refunds',
    {
      schema: {
        tags: ['payments'],
        summary: 'Refund a completed card or pay-by-bank deposit, whole or in part, back to where it came from',
        description:
          'Makes a payment of kind `refund` (`refund_of` the deposit), paid back through the provider that took ' +
          'the deposit. The user is debited the refund less the part of the deposit’s fee it gives back (in ' +
          'proportion), held until the provider says it is paid: `payment.completed` on the refund and ' +
          '`payment.refunded` on the deposit, or `payment.failed` (`refund_failed`) with the hold freed. ' +
          'Refunds of a deposit never add up to more than it took. Only a deposit whose provider refunds its ' +
          'method is refundable (cards and pay-by-bank); an ACH debit or a crypto deposit answers ' +
          '`payment_not_refundable` with `details.reason` `method_not_refundable`.',
        params: idParam,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            amount: {
              type: 'string',
              maxLength: MAX_AMOUNT_INPUT_LENGTH,
              description: 'Decimal in the major unit; absent: all that is still refundable',
            },
            reason: { type: 'string', enum: [...REFUND_REASONS] },
            reference: { type: 'string', minLength: 1, maxLength: 128 },
            metadata: { type: 'object', maxProperties: 50 },
          },
        },
        response: { 201: { $ref: 'Payment#' } },
      },
    },
    async (request, reply) => {
      const { operatorId, mode } = request.operator;
      const deposit = await deps.payments.get(operatorId, request.params.id);
      const body = request.body;
      const refund = await deps.payments.refund({
        operatorId,
        mode,
        paymentId: deposit.id,
        amount: body.amount ?? null,
        reason: body.reason ?? null,
        reference: body.reference ?? null,
        idempotencyKey: paymentKeyOf(request, {
          operator_id: operatorId,
          user_id: deposit.user_id,
          mode,
          client_ip: null,
        }),
        metadata: body.metadata ?? {},
        user: await deps.users.get(operatorId, deposit.user_id),
      });
      return reply.code(201).send(presentPayment(refund));
    },
  );

  app.post<{ Params: { id: string } }>(
    '/v1/payments/:id/cancel',
    {
      schema: {
        tags: ['payments'],
        summary: 'Cancel a payment not yet with the provider',
        params: idParam,
        response: { 200: { $ref: 'Payment#' } },
      },
    },
    async (request) => presentPayment(await deps.payments.cancel(request.operator.operatorId, request.params.id)),
  );

  app.post<{ Params: { id: string } }>(
    '/v1/payments/:id/approve',
    {
      schema: {
        tags: ['payments'],
        summary: 'Approve a withdrawal under review: it is sent to its provider, answered as its create would be',
        params: idParam,
        response: { 200: { $ref: 'Payment#' } },
      },
    },
    async (request) => {
      const { operatorId, mode } = request.operator;
      const payment = await deps.payments.get(operatorId, request.params.id);
      // The user's standing as it is now; the location was checked when the user asked.
      const gates = await deps.compliance.context(
        { operator_id: operatorId, user_id: payment.user_id, mode, client_ip: null },
        null,
      );
      // A retry of an approval whose request ended unanswered sends the withdrawal on where it was left.
      const resume = request.idempotency?.takenOver === true;
      return presentPayment(await deps.payments.approveReview(operatorId, payment.id, gates, { resume }));
    },
  );

  app.post<{ Params: { id: string }; Body: { reason_code?: number; message?: string } }>(
    '/v1/payments/:id/decline',
    {
      schema: {
        tags: ['payments'],
        summary: 'Decline a withdrawal under review with a reason 1-9; its hold is freed',
        params: idParam,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            reason_code: {
              type: 'integer',
              minimum: 1,
              maximum: 9,
              description: 'The decline reason, as an approval endpoint gives it (1 generic, the default).',
            },
            message: { type: 'string', minLength: 1, maxLength: 500, description: 'Shown with the failure.' },
          },
        },
        response: { 200: { $ref: 'Payment#' } },
      },
    },
    async (request) =>
      presentPayment(
        await deps.payments.declineReview(
          request.operator.operatorId,
          request.params.id,
          request.body?.reason_code ?? 1,
          request.body?.message,
        ),
      ),
  );
}

export function widgetPaymentRoutes(app: FastifyInstance, deps: { payments: Payments; compliance: Compliance }): void {
  app.post<{ Body: CreateBody }>(
    '/widget/v1/payments',
    {
      schema: {
        tags: ['widget'],
        summary: 'The user starts the session’s operation (deposit, withdrawal, buy, sell)',
        body: createBody(false),
        response: { 201: { $ref: 'Payment#' } },
      },
    },
    async (request, reply) => {
      const { session } = request.widget;
      const body = request.body;
      if (body.kind !== undefined && body.kind !== session.operation)
        throw new RampartError('invalid_value', { field: 'kind', provided: body.kind, expected: session.operation });
      // Fields the operator locked on the session cannot be changed by the user.
      for (const field of ['currency', 'network', 'amount'] as const) {
        const locked = session.locks[field] && session[field] !== null;
        if (locked && body[field] !== undefined && body[field]?.toUpperCase() !== session[field]?.toUpperCase())
          throw new RampartError('invalid_value', { field, provided: body[field], expected: session[field] });
      }
      const returnUrl = widgetReturnUrl(session, body.return_url) ?? undefined;
      const payment = await createFrom(
        request,
        { ...body, ...(returnUrl ? { return_url: returnUrl } : {}) },
        { ...session, kind: session.operation },
        deps,
      );
      return reply.code(201).send(presentForWidget(payment));
    },
  );

  app.get<{ Querystring: QuoteQuery }>(
    '/widget/v1/payments/quote',
    {
      schema: {
        tags: ['widget'],
        summary: 'The fee the user would pay on the session’s operation for an amount, shown before they confirm',
        querystring: quoteQuery(false),
        response: { 200: quoteSchema },
      },
    },
    async (request) => {
      const { session } = request.widget;
      return quoteFor(deps.payments, session.operator_id, session.operation, request.query);
    },
  );

  app.get<{ Params: { id: string } }>(
    '/widget/v1/payments/:id',
    {
      schema: {
        tags: ['widget'],
        summary: 'Status of a payment of this session',
        params: idParam,
        response: { 200: { $ref: 'Payment#' } },
      },
    },
    async (request) => presentForWidget(await ownPayment(request, deps.payments, request.params.id)),
  );

  app.post<{ Params: { id: string } }>(
    '/widget/v1/payments/:id/cancel',
    {
      schema: {
        tags: ['widget'],
        summary:
          'The user cancels a payment of this session not yet with its provider: a withdrawal waiting for review, a deposit not yet authorised',
        params: idParam,
        response: { 200: { $ref: 'Payment#' } },
      },
    },
    async (request) => {
      const { session } = request.widget;
      const payment = await ownPayment(request, deps.payments, request.params.id);
      // Only what this session made: an open crypto deposit shared with the user's other sessions stays.
      if (payment.session_id !== session.id)
        throw new RampartError('payment_not_found', { payment_id: request.params.id });
      return presentForWidget(await deps.payments.cancel(session.operator_id, payment.id));
    },
  );

  app.post<{ Params: { id: string } }>(
    '/widget/v1/payments/:id/finalize',
    {
      schema: {
        tags: ['widget'],
        summary: 'After the provider flow: is the deposit completed? deposit_not_completed if not (do not retry)',
        params: idParam,
        response: { 200: { $ref: 'Payment#' } },
      },
    },
    async (request) => {
      const payment = await ownPayment(request, deps.payments, request.params.id);
      if (payment.status === 'failed') {
        throw new RampartError(
          payment.kind === 'withdrawal' || payment.kind === 'sell' ? 'withdrawal_failed' : 'deposit_failed',
          {
            payment_id: payment.id,
            reason: payment.failure_code ?? 'failed',
          },
        );
      }
      if (payment.status !== 'completed') {
        throw new RampartError('deposit_not_completed', { payment_id: payment.id, status: payment.status });
      }
      return presentForWidget(payment);
    },
  );
}

/**
 * The widget sees its own session's payments, and its user's crypto deposits: a request
 * for one may be answered the deposit already open to the user's address, made in
 * another session or by the operator.
 */
async function ownPayment(request: FastifyRequest, payments: Payments, id: string): Promise<Payment> {
  const { session } = request.widget;
  const payment = await payments.get(session.operator_id, id);
  const usersDeposit = payment.user_id === session.user_id && payment.kind === 'deposit' && payment.method === 'crypto';
  if (payment.session_id !== session.id && !usersDeposit)
    throw new RampartError('payment_not_found', { payment_id: id });
  return payment;
}
