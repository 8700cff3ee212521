import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isValidIban } from '../banking/iban.ts';
import { isValidRoutingNumber } from '../banking/routing-number.ts';
import type { ProviderContext, SimulatedProvider } from '../context.ts';
import { hostedResource, returnLocation } from '../html.ts';
import { endpoint, paramOf, retrievalRoutes } from '../http/endpoint.ts';
import { Fields } from '../http/fields.ts';
import { requestFingerprint } from '../http/fingerprint.ts';
import { failIfMagicError, MAGIC_CENTS } from '../magic.ts';
import { authorizePage, finishedPage, LIGHTBOX_SCRIPT } from './pages.ts';
import { BankPayments, serializeBankPayment } from './payments.ts';
import { BankPayouts, serializeBankPayout } from './payouts.ts';
import { registerBankRefundAdmin, registerBankRefundRoutes } from './refund-routes.ts';
import { BankRefunds } from './refunds.ts';
import { amountOf, bankDialect, bankError, invalidBankField } from './wire.ts';

const CURRENCIES = ['USD', 'EUR', 'GBP'] as const;
const HTML = { 'content-type': 'text/html; charset=utf-8' };

/** Pay-by-bank: a redirect/lightbox flow through a hosted bank login, plus payouts and refunds. */
export function createBankProvider(context: ProviderContext): SimulatedProvider {
  const payments = new BankPayments(context);
  const payouts = new BankPayouts(context);
  const refunds = new BankRefunds(context);
  const { kit } = context;

  const findPayment = (request: FastifyRequest) => {
    const payment = payments.get(paramOf(request, 'payment_id'));
    if (!payment) throw bankDialect.error('not_found', 'No such payment');
    return payment;
  };

  return {
    provider: 'bank',
    register(app: FastifyInstance) {
      app.post(
        '/bank/v1/payments',
        endpoint(
          kit,
          bankDialect,
          (request) => {
            const fields = new Fields(request.body, invalidBankField);
            const { amount, magic } = amountOf(fields);
            const currency = fields.oneOf('currency', CURRENCIES);
            const merchantReference = fields.string('merchant_reference', { max: 100 });
            const returnUrl = fields.url('return_url');
            const customer = fields.optionalObject('customer');
            const customerName = customer?.optionalString('name') ?? null;
            failIfMagicError(magic, requestFingerprint('POST', request.url, request.body), context, bankDialect);
            const payment = payments.create({ amount, currency, magic, merchantReference, returnUrl, customerName });
            return { status: 201, body: serializeBankPayment(payment, context.publicUrl()), createdId: payment.id };
          },
          { idempotent: true },
        ),
      );

      app.get(
        '/bank/v1/payments/:payment_id',
        endpoint(kit, bankDialect, (request) => ({
          status: 200,
          body: serializeBankPayment(findPayment(request), context.publicUrl()),
        })),
      );

      // For a merchant whose create call timed out: the payment it created, found by its own reference.
      retrievalRoutes(
        app,
        kit,
        bankDialect,
        [
          {
            path: '/bank/v1/payments/by_reference/:merchant_reference',
            param: 'merchant_reference',
            find: (value) => payments.byReference(value),
            missing: 'No payment with this merchant_reference',
          },
        ],
        (payment) => ({ status: 200, body: serializeBankPayment(payment, context.publicUrl()) }),
      );

      app.post(
        '/bank/v1/payments/:payment_id/cancel',
        endpoint(
          kit,
          bankDialect,
          (request) => {
            const payment = findPayment(request);
            if (!payments.canMove(payment, 'CANCELLED')) {
              throw bankDialect.error('invalid_state', `Payment is ${payment.status} and can no longer be cancelled`);
            }
            payments.move(payment, 'CANCELLED', 'MERCHANT_CANCELLED', context.clock.nowMs());
            return { status: 200, body: serializeBankPayment(payment, context.publicUrl()) };
          },
          { idempotent: true },
        ),
      );

      app.get(
        '/bank/authorize/:payment_id',
        endpoint(
          kit,
          bankDialect,
          (request) => {
            const found = hostedResource(payments.get(paramOf(request, 'payment_id')), 'Sandbox Bank');
            if ('answer' in found) return found.answer;
            const payment = found.resource;
            if (payment.status !== 'PENDING_AUTHORIZATION') {
              return { status: 200, body: finishedPage(payment), headers: HTML };
            }
            return { status: 200, body: authorizePage(payment), headers: HTML };
          },
          { auth: false },
        ),
      );

      app.post(
        '/bank/authorize/:payment_id',
        endpoint(
          kit,
          bankDialect,
          (request) => {
            const found = hostedResource(payments.get(paramOf(request, 'payment_id')), 'Sandbox Bank');
            if ('answer' in found) return found.answer;
            const payment = found.resource;
            if (payment.status !== 'PENDING_AUTHORIZATION') {
              return { status: 409, body: finishedPage(payment), headers: HTML };
            }
            const form = (request.body ?? {}) as Record<string, string>;
            if (form['decision'] === 'decline') {
              payments.move(payment, 'DECLINED', 'USER_DECLINED', context.clock.nowMs());
            } else if (form['decision'] === 'approve') {
              const username = (form['username'] ?? '').trim();
              if (!username || !(form['password'] ?? '').trim()) {
                return { status: 400, body: authorizePage(payment, 'Enter your user ID and password.'), headers: HTML };
              }
              payments.approve(payment, username);
            } else {
              return { status: 400, body: authorizePage(payment, 'Choose Approve or Decline.'), headers: HTML };
            }
            const location = returnLocation(payment.returnUrl, { payment_id: payment.id, status: payment.status });
            return { status: 303, body: '', headers: { location } };
          },
          { auth: false },
        ),
      );

      app.get(
        '/bank/lightbox.js',
        endpoint(
          kit,
          bankDialect,
          (request) => {
            const id = (request.query as Record<string, string | undefined>)['payment_id'];
            const payment = id ? payments.get(id) : undefined;
            if (payment?.magic === MAGIC_CENTS.pageFails) {
              return {
                status: 500,
                body: '/* 500 Internal Server Error */',
                headers: { 'content-type': 'text/javascript' },
              };
            }
            return {
              status: 200,
              body: LIGHTBOX_SCRIPT,
              headers: { 'content-type': 'text/javascript; charset=utf-8' },
            };
          },
          { auth: false },
        ),
      );

      app.post(
        '/bank/v1/payouts',
        endpoint(
          kit,
          bankDialect,
          (request) => {
            const fields = new Fields(request.body, invalidBankField);
            const { amount, magic } = amountOf(fields);
            const currency = fields.oneOf('currency', CURRENCIES);
            const merchantReference = fields.string('merchant_reference', { max: 100 });
            const account = fields.object('bank_account');
            const holderName = account.string('holder_name', { max: 140 });
            let accountLast4: string;
            if (account.has('iban')) {
              const iban = account.string('iban', { max: 42 });
              if (!isValidIban(iban)) throw account.fail('iban', 'bank_account.iban fails the IBAN check');
              accountLast4 = iban.replaceAll(' ', '').slice(-4);
            } else {
              const accountNumber = account.string('account_number', { pattern: /^\d{4,17}$/ });
              const routing = account.string('routing_number');
              if (!isValidRoutingNumber(routing)) {
                throw account.fail('routing_number', 'bank_account.routing_number fails the ABA checksum');
              }
              accountLast4 = accountNumber.slice(-4);
            }
            failIfMagicError(magic, requestFingerprint('POST', request.url, request.body), context, bankDialect);
            if (magic === MAGIC_CENTS.insufficientFunds) {
              throw bankError(422, 'INSUFFICIENT_BALANCE', 'Merchant balance is too low for this payout');
            }
            const payout = payouts.create({ amount, currency, magic, merchantReference, holderName, accountLast4 });
            return { status: 201, body: serializeBankPayout(payout), createdId: payout.id };
          },
          { idempotent: true },
        ),
      );

      retrievalRoutes(
        app,
        kit,
        bankDialect,
        [
          {
            path: '/bank/v1/payouts/:payout_id',
            param: 'payout_id',
            find: (value) => payouts.get(value),
            missing: 'No such payout',
          },
          {
            path: '/bank/v1/payouts/by_reference/:merchant_reference',
            param: 'merchant_reference',
            find: (value) => payouts.byReference(value),
            missing: 'No payout with this merchant_reference',
          },
        ],
        (payout) => ({ status: 200, body: serializeBankPayout(payout) }),
      );

      registerBankRefundRoutes(app, context, payments, refunds);
    },
    registerAdmin(app: FastifyInstance) {
      registerBankRefundAdmin(app, context, refunds);
    },
    reset() {
      payments.clear();
      payouts.clear();
      refunds.clear();
    },
  };
}
