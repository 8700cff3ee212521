/**
 * The launch page (`GET /widget/v1/launch/:payment_id#token=<widget token>`): reads the
 * payment through the widget API, loads its provider's browser SDK and opens the
 * provider's page with it. Any failure is shown to the user with the catalog's message
 * and posted to the host page as an `error` message.
 */
import { clientError, errorFromEnvelope, WidgetError } from './errors.js';
import { errorMessage, postToHost } from './host-messages.js';
import { loadProviderSdk } from './provider-sdk.js';
import { PROVIDER_SDKS } from './provider-sdks.js';

/**
 * @typedef {{ paymentId: string, sdkBaseUrls: Record<string, string>, sdkTimeoutMs?: number, apiTimeoutMs?: number }} LaunchConfig
 * @typedef {{ id: string, mode: 'test' | 'live', status: string, provider: string, next_action: { type: string, url?: string } | null }} Payment
 * @typedef {import('./host-messages.js').ProviderMessage} ProviderMessage
 */

/** How long the widget API may take to answer (ms): the SDKs' client deadline. */
const API_TIMEOUT_MS = 15_000;

/** @param {string} id */
function element(id) {
  const found = document.getElementById(id);
  if (!found) throw new Error(`launch page: #${id} is missing`);
  return found;
}

const config = /** @type {LaunchConfig} */ (JSON.parse(element('rampart-launch').textContent ?? '{}'));
const apiTimeoutMs = config.apiTimeoutMs ?? API_TIMEOUT_MS;
// The widget token comes in the URL fragment, which browsers send to no server and put
// in no Referer. It is taken out of the address bar too, and kept only in memory.
const token = new URLSearchParams(location.hash.slice(1)).get('token');
history.replaceState(null, '', location.pathname + location.search);

const status = element('status');
const problem = element('problem');
const problemMessage = element('problem-message');
const retry = element('retry');
const testMode = element('test-mode');

/** @returns {Promise<Payment>} */
async function fetchPayment() {
  let response;
  try {
    response = await fetch(`/widget/v1/payments/${encodeURIComponent(config.paymentId)}`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      signal: AbortSignal.timeout(apiTimeoutMs),
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === 'TimeoutError') {
      throw clientError('client_timeout', { timeout_ms: apiTimeoutMs }, error);
    }
    throw clientError('network_error', {}, error);
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) throw errorFromEnvelope(body);
  return body;
}

/** @param {string} text */
function showStatus(text) {
  status.textContent = text;
  status.hidden = false;
  problem.hidden = true;
}

/** @param {WidgetError} error */
function showProblem(error) {
  status.hidden = true;
  problemMessage.textContent = error.message;
  retry.hidden = !error.retryable;
  problem.hidden = false;
}

async function launch() {
  showStatus('Connecting to your payment provider…');
  try {
    const payment = await fetchPayment();
    // The user is told when nothing real happens: a test payment goes to the sandbox.
    testMode.hidden = payment.mode !== 'test';
    const action = payment.next_action;
    if (payment.status !== 'pending' || action?.type !== 'redirect' || !action.url) {
      showStatus(`This payment is ${payment.status}.`);
      postToHost({ source: 'rampart', type: 'status', payment_id: payment.id, status: payment.status });
      return;
    }
    const sdk = PROVIDER_SDKS[payment.provider];
    const base = config.sdkBaseUrls[payment.provider];
    if (!sdk || !base) {
      // A provider without a browser SDK: its page replaces this one (a plain redirect).
      location.assign(action.url);
      return;
    }
    const api = await loadProviderSdk({
      provider: payment.provider,
      src: `${base}${sdk.path}`,
      global: sdk.global,
      ready: sdk.ready,
      ...(config.sdkTimeoutMs ? { timeoutMs: config.sdkTimeoutMs } : {}),
    });
    /** @type {ProviderMessage} */
    const opened = { source: 'rampart', type: 'provider_opened', payment_id: payment.id, provider: payment.provider };
    sdk.launch(api, {
      url: action.url,
      onClose: () => {
        showStatus('The payment window was closed.');
        postToHost({ ...opened, type: 'provider_closed' });
      },
    });
    showStatus('Continue in your payment provider’s window.');
    postToHost(opened);
  } catch (error) {
    if (!(error instanceof WidgetError)) console.error(error);
    const reported = error instanceof WidgetError ? error : clientError('uncaught_error', {}, error);
    showProblem(reported);
    postToHost(errorMessage(reported));
  }
}

retry.addEventListener('click', () => void launch());
void launch();
