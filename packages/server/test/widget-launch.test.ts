/**
 * The launch page's errors in a real browser. Debian's Chromium opens an operator's page
 * that embeds Rampart's launch page (packages/widget) in an iframe; the launch page
 * reads a pay-by-bank deposit through the widget API and loads the sandbox bank's
 * browser SDK from the simulator. Simulator faults on the bank make that SDK fail to
 * load (`provider_load_failed`); a browser network that stalls, cuts or garbles the
 * widget API's answer gives the client codes (`client_timeout`, `network_error`,
 * `uncaught_error`). Each time the operator's page must hear the catalog error by
 * postMessage, and the user must see its message and recover with "Try again".
 * Last, a POST to the widget API from a page Rampart served is let through, as the
 * browser sends it (with its `Origin`).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, describe, test } from 'node:test';
import { type ErrorCode, RampartError } from '@rampart/errors';
import type { FaultRuleInput } from '@rampart/simulator';
import { type Browser, type BrowserContext, chromium, type Frame, type Page, type Route } from 'playwright-core';
import { errorOf, startTestApp } from './harness.ts';
import { openForPayments, waitForStatus } from './payment-fixtures.ts';
import { widgetCall, widgetSession } from './widget-fixtures.ts';

const CHROMIUM = process.env['CHROMIUM_PATH'] || '/usr/bin/chromium';
// Not a skip: without a browser this file proves nothing, so it fails and says why.
if (!existsSync(CHROMIUM)) {
  throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install chromium, or set CHROMIUM_PATH`);
}

// Live payments too (a test here moves live money): the sandbox serves live mode, as no deployment's does.
const t = await startTestApp({ sandbox: { live: true } });
await openForPayments(t);
const simulator = t.simulator!;
const rampartOrigin = new URL(t.url!).origin;
const simulatorOrigin = new URL(simulator.url).origin;

const browser: Browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
});
after(() => browser.close());

/**
 * The operator's page, on an origin of its own: it embeds the launch page given in
 * `?src=` and records every message Rampart's frame posts to it.
 */
const operatorSite = createServer((request, response) => {
  const src = new URL(request.url ?? '/', 'http://operator.invalid').searchParams.get('src') ?? '';
  response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  response.end(`<!doctype html>
<title>Operator</title>
<script>
  window.rampartEvents = [];
  window.addEventListener('message', (event) => {
    if (event.origin === ${JSON.stringify(rampartOrigin)} && event.data && event.data.source === 'rampart') {
      window.rampartEvents.push(event.data);
    }
  });
</script>
<iframe id="rampart" src="${src.replaceAll('&', '&amp;').replaceAll('"', '&quot;')}" width="640" height="720"></iframe>`);
});
await new Promise<void>((resolve) => operatorSite.listen(0, '127.0.0.1', resolve));
after(() => new Promise((resolve) => operatorSite.close(resolve)));
const operatorUrl = `http://127.0.0.1:${(operatorSite.address() as AddressInfo).port}`;

/** Generous for a loaded 2-core machine; a passing run takes a fraction of it. */
const WAIT_MS = 20_000;

interface HostEvent {
  source: string;
  type: string;
  [field: string]: unknown;
}

let users = 0;

/** A pay-by-bank deposit started through the widget API, and the widget token of its session (test mode unless `auth` says). */
async function bankDeposit(auth = t.auth) {
  const { widget } = await widgetSession(t, { user_id: `payer-${++users}`, operation: 'deposit' }, auth);
  const created = await widgetCall(t, widget, '/widget/v1/payments', {
    method: 'bank',
    amount: '25.00',
    currency: 'USD',
  });
  assert.equal(created.statusCode, 201, created.body);
  const payment = created.json() as { id: string; provider: string; next_action: { type: string; url: string } };
  assert.equal(payment.provider, 'simbank');
  assert.equal(payment.next_action.type, 'redirect');
  return { payment, token: widget.authorization.slice('Bearer '.length) };
}

const contexts: BrowserContext[] = [];

/**
 * The operator's page embedding the launch page of `paymentId`; each in a fresh browser
 * context. `network` may set up how the browser's network treats requests first.
 */
async function openOperatorPage(
  paymentId: string,
  options: { token?: string; query?: string; network?: (context: BrowserContext) => Promise<unknown> } = {},
) {
  const context = await browser.newContext();
  contexts.push(context);
  await options.network?.(context);
  const page = await context.newPage();
  const fragment = options.token === undefined ? '' : `#token=${encodeURIComponent(options.token)}`;
  const launchUrl = `${t.url}/widget/v1/launch/${paymentId}${options.query ?? ''}${fragment}`;
  // Not 'load': a slow SDK inserted before the frame's load event would hold it back.
  await page.goto(`${operatorUrl}/?src=${encodeURIComponent(launchUrl)}`, { waitUntil: 'domcontentloaded' });
  const frame = await (await page.waitForSelector('#rampart')).contentFrame();
  assert.ok(frame, 'the launch page frame');
  return { page, frame };
}

/** The first message of this type the operator's page received. */
async function hostEvent(page: Page, type: string): Promise<HostEvent> {
  const handle = await page.waitForFunction(
    (wanted) => (window as unknown as { rampartEvents: HostEvent[] }).rampartEvents.find((e) => e.type === wanted),
    type,
    { timeout: WAIT_MS },
  );
  return (await handle.jsonValue()) as HostEvent;
}

const hostEvents = (page: Page) =>
  page.evaluate(() => (window as unknown as { rampartEvents: HostEvent[] }).rampartEvents);

/** The bank's hosted login page, inside the SDK's overlay, inside the launch page. */
const bankPage = (page: Page) => page.frameLocator('#rampart').frameLocator('[data-sandbox-bank="overlay"] iframe');

/** The error message the operator's page must receive: the catalog's code, message and `retryable`. */
function hostError(code: ErrorCode, details: Record<string, unknown> = {}) {
  const error = new RampartError(code, details);
  return { source: 'rampart', type: 'error', code, message: error.message, retryable: error.entry.retryable, details };
}

/** What the operator's page must receive when the bank's SDK does not load, and why. */
const loadFailed = (reason: string) => hostError('provider_load_failed', { provider: 'simbank', reason });

/** The user sees the catalog's message in the launch page. */
async function assertShown(frame: Frame, message: string) {
  const alert = frame.getByRole('alert');
  await alert.waitFor({ timeout: WAIT_MS });
  assert.equal((await alert.textContent())?.trim(), message);
}

const sdkRequests = () => simulator.admin.requests({ provider: 'bank' }).filter((r) => r.path === '/bank/lightbox.js');

describe('a provider SDK in the browser (launch page)', () => {
  afterEach(async () => {
    simulator.admin.clearFaults();
    await Promise.all(contexts.splice(0).map((context) => context.close()));
  });

  test('the page allows scripts only from itself and the bank SDK origin, and checks its timeout', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/widget/v1/launch/pay_x' });
    assert.equal(response.statusCode, 200);
    assert.match(String(response.headers['content-type']), /^text\/html/);
    const csp = String(response.headers['content-security-policy']);
    assert.match(csp, new RegExp(`script-src 'self' ${simulatorOrigin};`));
    assert.match(csp, new RegExp(`frame-src ${simulatorOrigin};`));
    assert.match(csp, /default-src 'none'/);
    assert.equal(response.headers['referrer-policy'], 'no-referrer');
    const tooLong = await t.app.inject({ method: 'GET', url: '/widget/v1/launch/pay_x?sdk_timeout_ms=999999' });
    assert.equal(errorOf(tooLong).code, 'invalid_value');
    const missing = await t.app.inject({ method: 'GET', url: '/widget/v1/assets/nothing.js' });
    assert.equal(errorOf(missing).code, 'route_not_found');
  });

  test('without faults the bank SDK loads, shows the bank login, and approving completes the deposit', async () => {
    const { payment, token } = await bankDeposit();
    const { page, frame } = await openOperatorPage(payment.id, { token });
    assert.deepEqual(await hostEvent(page, 'provider_opened'), {
      source: 'rampart',
      type: 'provider_opened',
      payment_id: payment.id,
      provider: 'simbank',
    });
    const bank = bankPage(page);
    await bank.getByRole('heading', { name: 'Pay 25.00 USD' }).waitFor({ timeout: WAIT_MS });
    assert.equal(await bank.getByLabel('Online banking user ID').inputValue(), 'sandbox-user');
    assert.ok(await frame.getByText('Test mode: no real money moves.').isVisible(), 'a test payment says so');
    assert.ok(!(await frame.evaluate(() => location.href)).includes('token'), 'the token left the address bar');
    assert.equal(sdkRequests().at(-1)!.status, 200);

    await bank.getByRole('button', { name: 'Approve' }).click();
    const completed = await waitForStatus(t, payment.id, ['completed'], WAIT_MS);
    assert.equal(completed.status, 'completed');
    assert.deepEqual(
      (await hostEvents(page)).filter((e) => e.type === 'error'),
      [],
    );
  });

  test('a live payment’s page shows no test-mode notice', async () => {
    const live = await t.operators.keys.issue(t.operatorId, { mode: 'live', scope: 'full' });
    const liveAuth = { authorization: `Bearer ${live.secret}` };
    await openForPayments(t, {}, liveAuth);
    const { payment, token } = await bankDeposit(liveAuth);
    const { page, frame } = await openOperatorPage(payment.id, { token });
    await hostEvent(page, 'provider_opened');
    assert.equal(await frame.locator('#test-mode').isHidden(), true);
  });

  const unreachable: [string, Omit<FaultRuleInput, 'provider'>][] = [
    ['an outage (503)', { kind: 'outage', duration_ms: 600_000, mode: '503' }],
    ['a 5xx error', { kind: 'error', status: 502 }],
    ['an outage that drops connections', { kind: 'outage', duration_ms: 600_000, mode: 'reset' }],
  ];
  for (const [name, rule] of unreachable) {
    test(`${name} on the bank: the operator's page receives provider_load_failed and the user sees the message`, async () => {
      const { payment, token } = await bankDeposit();
      simulator.admin.addFault({ provider: 'bank', ...rule });
      const { page, frame } = await openOperatorPage(payment.id, { token });
      const expected = loadFailed('script_error');
      assert.deepEqual(await hostEvent(page, 'error'), expected);
      await assertShown(frame, expected.message);
      assert.deepEqual(sdkRequests().at(-1)!.faults, [rule.kind], 'the SDK request is the one that broke');
      assert.equal(await bankPage(page).locator('body').count(), 0, 'no bank page was opened');

      // The fault ends; the message offered a retry, and retrying opens the bank.
      simulator.admin.clearFaults();
      await frame.getByRole('button', { name: 'Try again' }).click();
      assert.equal((await hostEvent(page, 'provider_opened')).payment_id, payment.id);
      await bankPage(page).getByRole('heading', { name: 'Pay 25.00 USD' }).waitFor({ timeout: WAIT_MS });
    });
  }

  test('a script that loads but defines no SDK (garbage: the script cut in half) is provider_load_failed', async () => {
    const { payment, token } = await bankDeposit();
    simulator.admin.addFault({ provider: 'bank', kind: 'garbage', phase: 'after', path: '/bank/lightbox.js' });
    const { page, frame } = await openOperatorPage(payment.id, { token });
    const expected = loadFailed('no_global');
    assert.deepEqual(await hostEvent(page, 'error'), expected);
    await assertShown(frame, expected.message);
    const request = sdkRequests().at(-1)!;
    assert.deepEqual([request.status, request.faults], [200, ['garbage']], 'the script arrived, as garbage');
  });

  test('a slow SDK beyond the load timeout is provider_load_failed', async () => {
    const { payment, token } = await bankDeposit();
    simulator.admin.addFault({ provider: 'bank', kind: 'latency', ms: 10_000, path: '/bank/lightbox.js' });
    const started = Date.now();
    const { page, frame } = await openOperatorPage(payment.id, { token, query: '?sdk_timeout_ms=300' });
    const expected = loadFailed('timeout');
    assert.deepEqual(await hostEvent(page, 'error'), expected);
    assert.ok(Date.now() - started < 10_000, 'the widget gave up before the script arrived');
    await assertShown(frame, expected.message);
  });

  test('API errors reach the operator’s page in the same contract (no widget token)', async () => {
    const { payment } = await bankDeposit();
    const { page, frame } = await openOperatorPage(payment.id);
    const error = await hostEvent(page, 'error');
    assert.equal(error['code'], 'missing_token');
    assert.equal(typeof error['message'], 'string');
    await assertShown(frame, String(error['message']));
  });
});

describe('a widget API the launch page cannot hear properly', () => {
  afterEach(async () => {
    await Promise.all(contexts.splice(0).map((context) => context.close()));
  });

  /** The widget API call that reads the payment, as the browser sees it. */
  const PAYMENT_READS = '**/widget/v1/payments/**';

  /**
   * Opens the launch page with the browser's network answering the payment read with
   * `fault` until `heal` is called; the operator's page must receive `expected`, the
   * user must see its message, and "Try again" once healed must open the bank.
   */
  async function failsThenRecovers(
    fault: (route: Route) => Promise<void> | void,
    expected: ReturnType<typeof hostError>,
    query = '',
  ) {
    const { payment, token } = await bankDeposit();
    let healed = false;
    const { page, frame } = await openOperatorPage(payment.id, {
      token,
      query,
      network: (context) => context.route(PAYMENT_READS, (route) => (healed ? route.continue() : fault(route))),
    });
    assert.deepEqual(await hostEvent(page, 'error'), expected);
    await assertShown(frame, expected.message);
    healed = true;
    await frame.getByRole('button', { name: 'Try again' }).click();
    assert.equal((await hostEvent(page, 'provider_opened')).payment_id, payment.id);
  }

  test('no answer within api_timeout_ms is client_timeout, with the deadline that passed', async () => {
    // The request is held and never answered: a stalled connection.
    await failsThenRecovers(() => {}, hostError('client_timeout', { timeout_ms: 300 }), '?api_timeout_ms=300');
  });

  test('a connection cut before any answer is network_error', async () => {
    await failsThenRecovers((route) => route.abort('connectionreset'), hostError('network_error'));
  });

  test('something other than Rampart answering (a proxy’s error page) is network_error', async () => {
    await failsThenRecovers(
      (route) => route.fulfill({ status: 502, contentType: 'text/html', body: '<h1>502 Bad Gateway</h1>' }),
      hostError('network_error'),
    );
  });

  test('an answer the page cannot make sense of throws inside it: uncaught_error', async () => {
    await failsThenRecovers(
      (route) => route.fulfill({ status: 200, contentType: 'application/json', body: 'null' }),
      hostError('uncaught_error'),
    );
  });

  test('an api_timeout_ms out of bounds is invalid_value', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/widget/v1/launch/pay_x?api_timeout_ms=50' });
    assert.equal(errorOf(response).code, 'invalid_value');
    assert.equal(errorOf(response).details['field'], 'api_timeout_ms');
  });
});

describe("the widget API from Rampart's own pages, in the browser", () => {
  test('a POST from a page Rampart served is allowed without RAMPART_PUBLIC_URL or an allowlist entry', async () => {
    const { widget } = await widgetSession(t, { user_id: 'own-page-browser', client_ip: '8.8.8.8' });
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      // Any page of Rampart's will do: the launch page of a payment that does not exist.
      await page.goto(`${t.url}/widget/v1/launch/pay_x`, { waitUntil: 'domcontentloaded' });
      const answer = await page.evaluate(async (authorization) => {
        const response = await fetch('/widget/v1/session/validate', { method: 'POST', headers: { authorization } });
        return { status: response.status, body: await response.json() };
      }, widget.authorization);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.body.userId, 'own-page-browser');
    } finally {
      await context.close();
    }
  });
});
