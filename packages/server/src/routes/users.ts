import {
  type Adjustment,
  type Balance,
  type EndUser,
  type EndUsers,
  findCurrency,
  formatAmount,
  type KeyMode,
  type Kyc,
  type Ledger,
  MAX_AMOUNT_INPUT_LENGTH,
  type OperatorSettingsStore,
  type Position,
  presentLimits,
  type StatementEntry,
  type UserBalances,
  type UserProfile,
} from '@rampart/core';
import type { FastifyInstance } from 'fastify';
import { cursorListSchema, cursorPage, limitQuery } from './schemas.ts';

const nullableString = (maxLength: number) => ({ type: ['string', 'null'], maxLength }) as const;

export const endUserSchema = {
  $id: 'EndUser',
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { type: 'string', const: 'user' },
    email: { type: ['string', 'null'] },
    email_verified: { type: 'boolean' },
    phone: { type: ['string', 'null'], description: 'E.164' },
    phone_verified: { type: 'boolean' },
    first_name: { type: ['string', 'null'] },
    last_name: { type: ['string', 'null'] },
    country: { type: ['string', 'null'] },
    state: { type: ['string', 'null'] },
    date_of_birth: { type: ['string', 'null'], format: 'date' },
    kyc: { $ref: 'KycStatus#' },
    terms_version: { type: ['string', 'null'] },
    blocked: { type: 'boolean' },
    blocked_reason: { type: ['string', 'null'] },
    created_at: { type: 'string', format: 'date-time' },
    updated_at: { type: 'string', format: 'date-time' },
  },
  required: ['id', 'object', 'kyc', 'blocked'],
} as const;

export const kycStatusSchema = {
  $id: 'KycStatus',
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['not_started', 'pending', 'verified', 'failed', 'reverification_required'] },
    reason: { type: ['string', 'null'] },
    attested: { type: 'boolean' },
    updated_at: { type: ['string', 'null'], format: 'date-time' },
  },
  required: ['status'],
} as const;

export function presentKyc(user: EndUser) {
  return {
    status: user.kyc_status,
    reason: user.kyc_reason,
    attested: user.kyc_attested,
    updated_at: user.kyc_updated_at,
  };
}

export function presentUser(user: EndUser) {
  return {
    id: user.id,
    object: 'user',
    email: user.email,
    email_verified: user.email_verified_at !== null,
    phone: user.phone,
    phone_verified: user.phone_verified_at !== null,
    first_name: user.first_name,
    last_name: user.last_name,
    country: user.country,
    state: user.state,
    date_of_birth: user.date_of_birth,
    kyc: presentKyc(user),
    terms_version: user.terms_version,
    blocked: user.blocked_at !== null,
    blocked_reason: user.blocked_reason,
    created_at: user.created_at,
    updated_at: user.updated_at,
  };
}

const userParams = {
  type: 'object',
  properties: { id: { type: 'string', minLength: 1, maxLength: 128 } },
  required: ['id'],
} as const;

const reasonBody = {
  type: 'object',
  additionalProperties: false,
  properties: { reason: { type: 'string', maxLength: 500 } },
} as const;

type Params = { Params: { id: string } };

export function userRoutes(app: FastifyInstance, users: EndUsers, kyc: Kyc): void {
  app.put<Params & { Body: UserProfile }>(
    '/v1/users/:id',
    {
      schema: {
        tags: ['users'],
        summary: 'Create or update an end user by your own user id',
        params: userParams,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            email: nullableString(320),
            phone: nullableString(32),
            first_name: nullableString(100),
            last_name: nullableString(100),
            country: nullableString(8),
            state: nullableString(8),
            date_of_birth: nullableString(10),
          },
        },
        response: { 200: { $ref: 'EndUser#' }, 201: { $ref: 'EndUser#' } },
      },
    },
    async (request, reply) => {
      const { user, created } = await users.upsert(request.operator.operatorId, request.params.id, request.body ?? {});
      return reply.code(created ? 201 : 200).send(presentUser(user));
    },
  );

  app.get<Params>(
    '/v1/users/:id',
    {
      schema: { tags: ['users'], summary: 'An end user', params: userParams, response: { 200: { $ref: 'EndUser#' } } },
    },
    async (request) => presentUser(await users.get(request.operator.operatorId, request.params.id)),
  );

  app.get<Params>(
    '/v1/users/:id/kyc',
    {
      schema: {
        tags: ['users'],
        summary: 'KYC status of an end user',
        params: userParams,
        response: { 200: { $ref: 'KycStatus#' } },
      },
    },
    async (request) => presentKyc(await users.get(request.operator.operatorId, request.params.id)),
  );

  app.post<Params & { Body: { status: 'verified' | 'failed'; reason?: string } }>(
    '/v1/users/:id/kyc',
    {
      schema: {
        tags: ['users'],
        summary: 'Attest KYC done (or failed) on your side',
        params: userParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['status'],
          properties: {
            status: { type: 'string', enum: ['verified', 'failed'] },
            reason: { type: 'string', maxLength: 500 },
          },
        },
        response: { 200: { $ref: 'KycStatus#' } },
      },
    },
    async (request) => {
      const user = await kyc.attest(
        request.operator.operatorId,
        request.params.id,
        request.body.status,
        request.body.reason ?? null,
      );
      return presentKyc(user);
    },
  );

  const userAction = (
    path: string,
    summary: string,
    act: (operatorId: string, userId: string, reason: string | null, mode: KeyMode) => Promise<EndUser>,
  ) =>
    app.post<Params & { Body: { reason?: string } | undefined }>(
      `/v1/users/:id/${path}`,
      {
        schema: {
          tags: ['users'],
          summary,
          params: userParams,
          body: reasonBody,
          response: { 200: { $ref: 'EndUser#' } },
        },
      },
      async (request) =>
        presentUser(
          await act(
            request.operator.operatorId,
            request.params.id,
            request.body?.reason ?? null,
            request.operator.mode,
          ),
        ),
    );

  userAction('block', 'Block an end user from all payments', (o, u, reason) => users.block(o, u, reason));
  userAction('unblock', 'Lift a block', (o, u) => users.unblock(o, u));
  userAction('reverification', 'Require the user to verify identity again', (o, u, reason, mode) =>
    kyc.requireReverification(o, mode, u, reason),
  );
}

const balanceSchema = {
  type: 'object',
  properties: {
    object: { type: 'string', const: 'balance' },
    currency: { type: 'string' },
    network: { type: ['string', 'null'] },
    posted: { type: 'string', description: 'Decimal, in the currency’s major unit' },
    held: { type: 'string', description: 'Reserved by withdrawals in progress' },
    available: { type: 'string', description: '`posted - held`: what the user can withdraw' },
    posted_minor: { type: 'string' },
    held_minor: { type: 'string' },
    available_minor: { type: 'string' },
  },
  required: ['object', 'currency', 'posted', 'held', 'available'],
} as const;

/** Minor units as a decimal in the currency `code` (as they are, for a currency Rampart no longer knows). */
function decimalIn(code: string): (minor: bigint) => string {
  const currency = findCurrency(code);
  return (minor) => (currency ? formatAmount(minor, currency) : minor.toString());
}

function presentBalance(balance: Balance) {
  const decimal = decimalIn(balance.currency);
  return {
    object: 'balance',
    currency: balance.currency,
    network: balance.network,
    posted: decimal(balance.posted),
    held: decimal(balance.pending_debits),
    available: decimal(balance.available),
    posted_minor: balance.posted.toString(),
    held_minor: balance.pending_debits.toString(),
    available_minor: balance.available.toString(),
  };
}

const positionSchema = {
  type: 'object',
  properties: {
    object: { type: 'string', const: 'ledger_position' },
    kind: {
      type: 'string',
      enum: ['user', 'provider_clearing', 'fees', 'operator_settlement', 'suspense'],
      description:
        'user: all users together; provider_clearing: what a provider took in less what it paid out; fees: fees earned; operator_settlement: your side of balance adjustments',
    },
    provider: { type: ['string', 'null'] },
    currency: { type: 'string' },
    network: { type: ['string', 'null'] },
    posted: { type: 'string', description: 'Decimal; over every row of a currency, posted sums to zero' },
    held: { type: 'string', description: 'Reserved by holds (withdrawals in progress)' },
    incoming: { type: 'string', description: 'Held for these accounts by others' },
    posted_minor: { type: 'string' },
    held_minor: { type: 'string' },
    incoming_minor: { type: 'string' },
    accounts: { type: 'integer', description: 'How many accounts were added up' },
  },
  required: ['object', 'kind', 'currency', 'posted', 'held', 'incoming', 'accounts'],
} as const;

/** A ledger position as the API and the CLI show it: decimals in the currency, and minor units. */
export function presentPosition(position: Position) {
  const decimal = decimalIn(position.currency);
  return {
    object: 'ledger_position',
    kind: position.kind,
    provider: position.provider,
    currency: position.currency,
    network: position.network,
    posted: decimal(position.posted),
    held: decimal(position.pending_debits),
    incoming: decimal(position.pending_credits),
    posted_minor: position.posted.toString(),
    held_minor: position.pending_debits.toString(),
    incoming_minor: position.pending_credits.toString(),
    accounts: position.accounts,
  };
}

/** The operator's whole ledger in the key's mode, per kind of account, provider and currency. */
export function ledgerRoutes(app: FastifyInstance, ledger: Ledger): void {
  app.get(
    '/v1/ledger/balances',
    {
      schema: {
        tags: ['ledger'],
        summary: 'Your ledger: what users hold, what providers cleared, fees earned, settlement; per currency',
        response: {
          200: {
            type: 'object',
            properties: {
              object: { type: 'string', const: 'list' },
              data: { type: 'array', items: positionSchema },
            },
            required: ['object', 'data'],
          },
        },
      },
    },
    async (request) => ({
      object: 'list',
      data: (await ledger.positions(request.operator.operatorId, request.operator.mode)).map(presentPosition),
    }),
  );
}

/** Balances Rampart keeps for users (currencies in `ledger` mode), and operator adjustments to them. */
export function balanceRoutes(app: FastifyInstance, balances: UserBalances): void {
  app.get<Params>(
    '/v1/users/:id/balances',
    {
      schema: {
        tags: ['users'],
        summary: 'An end user’s balances, one per currency used',
        params: userParams,
        response: {
          200: {
            type: 'object',
            properties: { object: { type: 'string', const: 'list' }, data: { type: 'array', items: balanceSchema } },
            required: ['object', 'data'],
          },
        },
      },
    },
    async (request) => ({
      object: 'list',
      data: (await balances.list(request.operator.operatorId, request.params.id, request.operator.mode)).map(
        presentBalance,
      ),
    }),
  );

  app.post<Params & { Body: Adjustment }>(
    '/v1/users/:id/balance_adjustments',
    {
      schema: {
        tags: ['users'],
        summary: 'Credit or debit an end user’s balance (opening balances, bonuses, corrections)',
        description:
          'Moves money between the user and your settlement account in the ledger. A debit obeys the same floor as ' +
          'a withdrawal (`insufficient_balance`). The same `reference` is applied once; reused with other values it ' +
          'answers `idempotency_conflict`.',
        params: userParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['direction', 'amount', 'currency', 'reason', 'reference'],
          properties: {
            direction: { type: 'string', enum: ['credit', 'debit'] },
            amount: { type: 'string', maxLength: MAX_AMOUNT_INPUT_LENGTH },
            currency: { type: 'string', maxLength: 16 },
            reason: { type: 'string', maxLength: 500 },
            reference: { type: 'string', minLength: 1, maxLength: 128 },
          },
        },
        response: {
          201: {
            type: 'object',
            properties: {
              object: { type: 'string', const: 'balance_adjustment' },
              id: { type: 'string' },
              user_id: { type: 'string' },
              direction: { type: 'string' },
              amount: { type: 'string' },
              currency: { type: 'string' },
              reason: { type: 'string' },
              reference: { type: 'string' },
              created_at: { type: 'string', format: 'date-time' },
              balance: balanceSchema,
            },
            required: ['object', 'id', 'balance'],
          },
        },
      },
    },
    async (request, reply) => {
      const { operatorId, mode } = request.operator;
      const { transfer, balance } = await balances.adjust(operatorId, request.params.id, request.body, mode);
      const metadata = transfer.metadata as { direction: string; reference: string };
      const currency = findCurrency(balance.currency)!;
      const moved = transfer.entries.find((entry) => entry.amount > 0n)!.amount;
      return reply.code(201).send({
        object: 'balance_adjustment',
        id: transfer.id,
        user_id: request.params.id,
        direction: metadata.direction,
        amount: formatAmount(moved, currency),
        currency: balance.currency,
        reason: transfer.description,
        reference: metadata.reference,
        created_at: transfer.created_at,
        balance: presentBalance(balance),
      });
    },
  );

  app.get<Params & { Querystring: { currency?: string; starting_after?: string; limit?: string } }>(
    '/v1/users/:id/balance_transactions',
    {
      schema: {
        tags: ['users'],
        summary: 'An end user’s statement: each movement of their balance, newest first, with the balance it left',
        description:
          'Posted movements only: a withdrawal shows once it is paid out (until then it is `held` in the balance). ' +
          'Each names what moved the money: a payment (`payment_id`), its reversal, or your balance adjustment ' +
          '(`reference`). In the key’s mode; cursor-paginated.',
        params: userParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            currency: { type: 'string', maxLength: 16 },
            starting_after: { type: 'string', pattern: '^[1-9][0-9]{0,17}$', description: 'The last `id` you read.' },
            limit: limitQuery(25),
          },
        },
        response: { 200: cursorListSchema(balanceTransactionSchema) },
      },
    },
    async (request) => {
      const { currency, starting_after, limit } = request.query;
      const size = limit ? Number(limit) : 25;
      const rows = await balances.statement(request.operator.operatorId, request.params.id, request.operator.mode, {
        ...(currency ? { currency } : {}),
        ...(starting_after ? { before: starting_after } : {}),
        limit: size + 1,
      });
      return cursorPage(rows, size, presentBalanceTransaction);
    },
  );
}

const balanceTransactionSchema = {
  type: 'object',
  properties: {
    object: { type: 'string', const: 'balance_transaction' },
    id: { type: 'string' },
    type: {
      type: 'string',
      enum: ['payment', 'reversal', 'adjustment', 'other'],
      description:
        'payment: a deposit, withdrawal, buy or sell (net of its fee); reversal: a payment undone (ACH return, ' +
        'chargeback); adjustment: yours',
    },
    payment_id: { type: ['string', 'null'] },
    reference: { type: ['string', 'null'], description: 'An adjustment’s reference, as you gave it' },
    description: { type: ['string', 'null'] },
    transfer_id: { type: 'string' },
    currency: { type: 'string' },
    network: { type: ['string', 'null'] },
    amount: { type: 'string', description: 'Decimal, signed: positive credits the user, negative debits them' },
    balance_after: { type: 'string', description: 'The posted balance right after it' },
    amount_minor: { type: 'string' },
    balance_after_minor: { type: 'string' },
    created_at: { type: 'string', format: 'date-time' },
  },
  required: ['object', 'id', 'type', 'transfer_id', 'currency', 'amount', 'balance_after', 'created_at'],
} as const;

/** A movement of a user's balance as the API and the CLI show it. */
export function presentBalanceTransaction(entry: StatementEntry) {
  const decimal = decimalIn(entry.currency);
  return {
    object: 'balance_transaction',
    id: entry.id,
    ...entry.source,
    description: entry.description,
    transfer_id: entry.transfer_id,
    currency: entry.currency,
    network: entry.network,
    amount: decimal(entry.amount),
    balance_after: decimal(entry.balance_after),
    amount_minor: entry.amount.toString(),
    balance_after_minor: entry.balance_after.toString(),
    created_at: entry.created_at.toISOString(),
  };
}

const limitRowSchema = {
  type: 'object',
  properties: {
    action: { type: 'string', enum: ['deposit', 'withdrawal', 'buy', 'sell'] },
    currency: { type: 'string' },
    period: { type: 'string', enum: ['day', 'week', 'month'], description: 'Rolling 24 hours, 7 days or 30 days.' },
    amount: { type: ['string', 'null'], description: 'The limit in force; null: none yet (one is pending).' },
    pending: {
      type: ['object', 'null'],
      description: 'A raise or removal waiting out limit_increase_delay_hours (amount null: removal).',
      properties: {
        amount: { type: ['string', 'null'] },
        effective_at: { type: 'string', format: 'date-time' },
      },
    },
  },
  required: ['action', 'currency', 'period', 'amount', 'pending'],
} as const;

const limitListSchema = {
  type: 'object',
  properties: { object: { type: 'string', const: 'list' }, data: { type: 'array', items: limitRowSchema } },
  required: ['object', 'data'],
} as const;

/** Each end user's own limits (responsible gambling): tightened at once, loosened after the operator's delay. */
export function userLimitRoutes(
  app: FastifyInstance,
  deps: { users: EndUsers; settings: OperatorSettingsStore; now: () => Date },
): void {
  const list = (user: EndUser) => ({ object: 'list', data: presentLimits(user.limits, deps.now()) });
  app.get<Params>(
    '/v1/users/:id/limits',
    {
      schema: {
        tags: ['users'],
        summary: 'An end user’s own limits, with any raise still waiting',
        params: userParams,
        response: { 200: limitListSchema },
      },
    },
    async (request) => list(await deps.users.get(request.operator.operatorId, request.params.id)),
  );

  app.patch<Params & { Body: Record<string, unknown> }>(
    '/v1/users/:id/limits',
    {
      schema: {
        tags: ['users'],
        summary: 'Set an end user’s own deposit, withdrawal, buy or sell limits per day, week or month',
        description:
          'Body: `{"deposit": {"USD": {"day": "100.00", "week": "500.00", "month": null}}}` (null: no limit). A lower ' +
          'limit, or a first one, holds at once; a higher one, or a removal, holds after the operator setting ' +
          '`limit_increase_delay_hours` (24 by default) and shows as `pending` until then. Payments past a limit ' +
          'answer `user_limit_exceeded`.',
        params: userParams,
        body: {
          type: 'object',
          minProperties: 1,
          additionalProperties: false,
          patternProperties: {
            '^(deposit|withdrawal|buy|sell)$': {
              type: 'object',
              maxProperties: 20,
              additionalProperties: {
                type: 'object',
                additionalProperties: false,
                properties: Object.fromEntries(
                  ['day', 'week', 'month'].map((period) => [
                    period,
                    { type: ['string', 'null'], maxLength: MAX_AMOUNT_INPUT_LENGTH },
                  ]),
                ),
              },
            },
          },
        },
        response: { 200: limitListSchema },
      },
    },
    async (request) => {
      const { operatorId } = request.operator;
      const { limit_increase_delay_hours: hours } = await deps.settings.get(operatorId);
      // A user may set limits before their first payment: known from here on, as a payment would make them.
      await deps.users.ensure(operatorId, request.params.id);
      return list(await deps.users.setLimits(operatorId, request.params.id, request.body, hours * 3_600_000));
    },
  );
}
