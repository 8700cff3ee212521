/**
 * What the widget posts to the page embedding it (README, "postMessage events"). Every
 * message has `source: 'rampart'` and a `type`; errors carry the catalog's code, message,
 * retryable and details, as the API's error envelope does.
 * @typedef {{ source: 'rampart', type: 'error', code: string, message: string, retryable: boolean, details: Record<string, unknown> }} ErrorMessage
 * @typedef {{ source: 'rampart', type: 'provider_opened' | 'provider_closed', payment_id: string, provider: string }} ProviderMessage
 * @typedef {{ source: 'rampart', type: 'status', payment_id: string, status: string }} StatusMessage
 * @typedef {ErrorMessage | ProviderMessage | StatusMessage} HostMessage
 */

/** @param {import('./errors.js').WidgetError} error @returns {ErrorMessage} */
export function errorMessage(error) {
  return {
    source: 'rampart',
    type: 'error',
    code: error.code,
    message: error.message,
    retryable: error.retryable,
    details: error.details,
  };
}

/**
 * Posts to the embedding page, if any. The target origin is `*`: the widget does not
 * know its host's origin, so messages carry nothing secret (no token, no provider URL)
 * and the host must check that `event.origin` is Rampart's.
 * @param {HostMessage} message
 */
export function postToHost(message) {
  if (window.parent !== window) window.parent.postMessage(message, '*');
}
