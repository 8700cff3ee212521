import { escapeHtml, htmlPage } from '../html.ts';
import type { BankPayment } from './payments.ts';

const BRAND = 'Sandbox Bank';

/** The hosted bank login the redirect_url points at: a real form that POSTs back. */
export function authorizePage(payment: BankPayment, error?: string): string {
  return htmlPage(
    'Sign in to your bank',
    BRAND,
    `<h1>Pay ${escapeHtml(payment.amount)} ${escapeHtml(payment.currency)}</h1>
<p>Reference <code>${escapeHtml(payment.merchantReference)}</code></p>
${error ? `<p class="error">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/bank/authorize/${escapeHtml(payment.id)}">
  <label for="username">Online banking user ID</label>
  <input id="username" name="username" autocomplete="username" value="sandbox-user">
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" value="sandbox">
  <div class="actions">
    <button class="primary" type="submit" name="decision" value="approve">Approve</button>
    <button class="secondary" type="submit" name="decision" value="decline">Decline</button>
  </div>
</form>
<p class="note">Sandbox: any user ID and password work.</p>`,
  );
}

export function finishedPage(payment: BankPayment): string {
  return htmlPage(
    'Payment',
    BRAND,
    `<h1>Payment ${escapeHtml(payment.status.toLowerCase().replaceAll('_', ' '))}</h1>
<p><a href="${escapeHtml(payment.returnUrl)}">Return to the merchant</a></p>`,
  );
}

/**
 * The lightbox script a checkout page loads: it opens the bank page in an overlay
 * iframe (or a new window when framing is not possible).
 */
export const LIGHTBOX_SCRIPT = `(function () {
  'use strict';
  function open(options) {
    var overlay = document.createElement('div');
    overlay.setAttribute('data-sandbox-bank', 'overlay');
    overlay.style.cssText = 'position:fixed;inset:0;background:rgba(0,0,0,.5);display:flex;align-items:center;justify-content:center;z-index:2147483647';
    var frame = document.createElement('iframe');
    frame.src = options.redirectUrl;
    frame.style.cssText = 'width:420px;height:560px;border:0;border-radius:8px;background:#fff';
    overlay.appendChild(frame);
    overlay.addEventListener('click', function (event) {
      if (event.target === overlay) { overlay.remove(); if (options.onClose) options.onClose(); }
    });
    document.body.appendChild(overlay);
    return { close: function () { overlay.remove(); } };
  }
  window.SandboxBankLightbox = { open: open };
})();
`;
