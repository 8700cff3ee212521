import type { FastifyInstance } from 'fastify';
import { hostedResource, returnLocation } from '../html.ts';
import { endpoint } from '../http/endpoint.ts';
import { challengeDonePage, challengePage, verificationDonePage, verificationPage } from './pages.ts';
import { type CardsProcessor, HTML, paramOf } from './request.ts';
import { cardsDialect } from './wire.ts';

/** Browser pages: the issuer's 3-D Secure challenge and the processor's identity check. */
export function registerHostedPages(app: FastifyInstance, processor: CardsProcessor): void {
  const { context, customers, payments } = processor;
  const { kit } = context;

  app.get(
    '/cards/3ds/:id',
    endpoint(
      kit,
      cardsDialect,
      (request) => {
        const found = hostedResource(payments.get(paramOf(request, 'id')), 'Sandbox Card Issuer');
        if ('answer' in found) return found.answer;
        const payment = found.resource;
        if (payment.status !== 'requires_action')
          return { status: 200, body: challengeDonePage(payment), headers: HTML };
        return { status: 200, body: challengePage(payment), headers: HTML };
      },
      { auth: false },
    ),
  );

  app.post(
    '/cards/3ds/:id',
    endpoint(
      kit,
      cardsDialect,
      (request) => {
        const found = hostedResource(payments.get(paramOf(request, 'id')), 'Sandbox Card Issuer');
        if ('answer' in found) return found.answer;
        const payment = found.resource;
        if (payment.status !== 'requires_action')
          return { status: 409, body: challengeDonePage(payment), headers: HTML };
        const result = (request.body as Record<string, string> | undefined)?.['result'];
        if (result !== 'pass' && result !== 'fail') {
          return { status: 400, body: challengePage(payment), headers: HTML };
        }
        const now = context.clock.nowMs();
        if (result === 'pass') {
          payment.threeDSecure = 'authenticated';
          payments.authorize(payment, { kind: 'approve' });
        } else {
          payment.threeDSecure = 'failed';
          payments.fail(
            payment,
            'authentication_failed',
            null,
            'The cardholder failed 3-D Secure authentication.',
            now,
          );
        }
        if (!payment.returnUrl) return { status: 200, body: challengeDonePage(payment), headers: HTML };
        const location = returnLocation(payment.returnUrl, { payment_id: payment.id, status: payment.status });
        return { status: 303, body: '', headers: { location } };
      },
      { auth: false },
    ),
  );

  app.get(
    '/cards/verify/:token',
    endpoint(
      kit,
      cardsDialect,
      (request) => {
        const token = paramOf(request, 'token');
        const verification = customers.verification(token);
        if (!verification) return { status: 200, body: verificationDonePage(), headers: HTML };
        return { status: 200, body: verificationPage(token, verification.kind), headers: HTML };
      },
      { auth: false },
    ),
  );

  app.post(
    '/cards/verify/:token',
    endpoint(
      kit,
      cardsDialect,
      (request) => {
        customers.completeVerification(paramOf(request, 'token'));
        return { status: 200, body: verificationDonePage(), headers: HTML };
      },
      { auth: false },
    ),
  );
}
