import type { FastifyInstance } from 'fastify';
import type { ProviderContext, SimulatedProvider } from '../context.ts';
import { AchDebits } from './ach-debits.ts';
import { registerAchAdmin, registerAchRoutes } from './ach-routes.ts';
import { CardCustomers } from './customers.ts';
import { registerDisputeAdmin } from './dispute-routes.ts';
import { registerHostedPages } from './hosted-routes.ts';
import { registerPaymentRoutes } from './payment-routes.ts';
import { CardPayments } from './payments.ts';
import { registerPayoutRoutes } from './payout-routes.ts';
import { CardPayouts } from './payouts.ts';
import { registerRefundAdmin, registerRefundRoutes } from './refund-routes.ts';
import { CardRefunds } from './refunds.ts';
import type { CardsProcessor } from './request.ts';

/**
 * Card and ACH processor: card payments with 3-D Secure, disputes and refunds, ACH
 * debits that settle and return, payouts.
 */
export function createCardsProvider(context: ProviderContext): SimulatedProvider {
  const processor: CardsProcessor = {
    context,
    customers: new CardCustomers(context),
    payments: new CardPayments(context),
    debits: new AchDebits(context),
    payouts: new CardPayouts(context),
    refunds: new CardRefunds(context),
  };
  return {
    provider: 'cards',
    register(app: FastifyInstance) {
      registerPaymentRoutes(app, processor);
      registerHostedPages(app, processor);
      registerAchRoutes(app, processor);
      registerPayoutRoutes(app, processor);
      registerRefundRoutes(app, processor);
    },
    registerAdmin(app: FastifyInstance) {
      registerAchAdmin(app, processor);
      registerDisputeAdmin(app, processor);
      registerRefundAdmin(app, processor);
    },
    reset() {
      processor.customers.clear();
      processor.payments.clear();
      processor.debits.clear();
      processor.payouts.clear();
      processor.refunds.clear();
    },
  };
}
