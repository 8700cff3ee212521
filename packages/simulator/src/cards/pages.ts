import { escapeHtml, htmlPage } from '../html.ts';
import type { CardPayment } from './payments.ts';

const BRAND = 'Sandbox Card Issuer';

function money(amount: number, currency: string): string {
  return `${(amount / 100).toFixed(2)} ${currency.toUpperCase()}`;
}

/** The issuer's 3-D Secure challenge: a real form whose Pass/Fail POST completes the payment. */
export function challengePage(payment: CardPayment): string {
  return htmlPage(
    '3-D Secure authentication',
    BRAND,
    `<h1>Confirm your payment</h1>
<p>${escapeHtml(money(payment.amount, payment.currency))} with ${escapeHtml(payment.card.brand)} •••• ${escapeHtml(payment.card.last4)}</p>
<form method="post" action="/cards/3ds/${escapeHtml(payment.id)}">
  <label for="otp">One-time code sent to your phone</label>
  <input id="otp" name="otp" inputmode="numeric" value="123456">
  <div class="actions">
    <button class="primary" type="submit" name="result" value="pass">Pass</button>
    <button class="secondary" type="submit" name="result" value="fail">Fail</button>
  </div>
</form>
<p class="note">Sandbox: Pass authenticates, Fail fails the authentication.</p>`,
  );
}

export function challengeDonePage(payment: CardPayment): string {
  return htmlPage(
    '3-D Secure authentication',
    BRAND,
    `<h1>Authentication complete</h1><p>Payment status: <strong>${escapeHtml(payment.status)}</strong>. You can close this window.</p>`,
  );
}

/** The processor's hosted identity check behind 428 reverification_required and 451 kyc_required. */
export function verificationPage(token: string, kind: 'reverification' | 'kyc'): string {
  return htmlPage(
    'Verify your identity',
    'Sandbox Card Processor',
    `<h1>${kind === 'kyc' ? 'Verify your identity' : 'Re-verify your identity'}</h1>
<form method="post" action="/cards/verify/${escapeHtml(token)}">
  <div class="actions"><button class="primary" type="submit" name="result" value="complete">Complete verification</button></div>
</form>`,
  );
}

export function verificationDonePage(): string {
  return htmlPage(
    'Verified',
    'Sandbox Card Processor',
    '<h1>Verification complete</h1><p>You can close this window.</p>',
  );
}
