/**
 * The pay-by-bank provider's browser SDK (`/bank/lightbox.js`): what it defines, and how
 * the provider's fault rules make it fail to load the way they break its API.
 * A real browser loading it through Rampart's widget is packages/server/test/widget-launch.test.ts.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { runInNewContext, Script } from 'node:vm';
import { startTestSimulator } from './harness.ts';

const t = await startTestSimulator();
const SCRIPT = '/bank/lightbox.js';

function loadScript(signal?: AbortSignal) {
  return fetch(`${t.url}${SCRIPT}`, { signal: signal ?? AbortSignal.timeout(10_000) });
}

async function addFault(rule: Record<string, unknown>) {
  const answer = await t.admin('POST', '/admin/faults', { provider: 'bank', ...rule });
  assert.equal(answer.status, 201, answer.text);
}

/** Just enough of a DOM for the lightbox: elements that record what is done to them. */
function fakeDom() {
  interface FakeElement {
    tag: string;
    src?: string;
    style: { cssText?: string };
    children: FakeElement[];
    attributes: Record<string, string>;
    listeners: Record<string, (event: { target: unknown }) => void>;
    removed: boolean;
    setAttribute(name: string, value: string): void;
    appendChild(child: FakeElement): void;
    addEventListener(type: string, listener: (event: { target: unknown }) => void): void;
    remove(): void;
  }
  const body: FakeElement[] = [];
  const createElement = (tag: string): FakeElement => ({
    tag,
    style: {},
    children: [],
    attributes: {},
    listeners: {},
    removed: false,
    setAttribute(name, value) {
      this.attributes[name] = value;
    },
    appendChild(child) {
      this.children.push(child);
    },
    addEventListener(type, listener) {
      this.listeners[type] = listener;
    },
    remove() {
      this.removed = true;
    },
  });
  const window: Record<string, unknown> = {};
  window['document'] = { createElement, body: { appendChild: (element: FakeElement) => body.push(element) } };
  return { window, body };
}

const realScript = async () => (await (await loadScript()).text()) as string;

describe('bank browser SDK (lightbox.js)', () => {
  afterEach(() => t.sim.admin.clearFaults());

  test('is public JavaScript defining SandboxBankLightbox.open, which shows the bank page in an overlay iframe', async () => {
    const response = await loadScript();
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type')!, /^text\/javascript/);
    const { window, body } = fakeDom();
    runInNewContext(await response.text(), { window, document: window['document'] });
    const lightbox = window['SandboxBankLightbox'] as { open(options: unknown): { close(): void } };
    assert.equal(typeof lightbox.open, 'function');

    let closed = 0;
    const redirectUrl = `${t.url}/bank/authorize/bpay_x`;
    lightbox.open({ redirectUrl, onClose: () => closed++ });
    assert.equal(body.length, 1);
    const overlay = body[0]!;
    assert.equal(overlay.attributes['data-sandbox-bank'], 'overlay');
    assert.equal(overlay.children[0]!.tag, 'iframe');
    assert.equal(overlay.children[0]!.src, redirectUrl);
    overlay.listeners['click']!({ target: overlay });
    assert.equal(closed, 1, 'clicking outside the bank page closes it and tells the caller');
    assert.ok(overlay.removed);
  });

  const broken: [string, Record<string, unknown>, number, string][] = [
    ['an outage (503)', { kind: 'outage', duration_ms: 60_000, mode: '503' }, 503, 'SERVICE_UNAVAILABLE'],
    ['a 5xx error', { kind: 'error', status: 502 }, 502, 'INTERNAL_ERROR'],
  ];
  for (const [name, rule, status, code] of broken) {
    test(`${name} answers ${status} in the bank's error format instead of the script`, async () => {
      await addFault(rule);
      const response = await loadScript();
      assert.equal(response.status, status);
      assert.match(response.headers.get('content-type')!, /application\/json/);
      assert.equal(((await response.json()) as { error_code: string }).error_code, code);
      t.sim.admin.clearFaults();
      assert.equal((await loadScript()).status, 200, 'the script loads again once the fault is gone');
    });
  }

  for (const rule of [{ kind: 'reset' }, { kind: 'outage', duration_ms: 60_000, mode: 'reset' }]) {
    test(`${rule.kind}${'mode' in rule ? ' (reset)' : ''}: the connection is dropped and nothing loads`, async () => {
      await addFault(rule);
      await assert.rejects(loadScript(), { name: 'TypeError' });
    });
  }

  test('garbage before the work: a 200 that is not JavaScript (browsers refuse it)', async () => {
    await addFault({ kind: 'garbage', body: 'truncated_json' });
    const response = await loadScript();
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type')!, /application\/json/);
    assert.doesNotMatch(await response.text(), /SandboxBankLightbox/);
  });

  test('garbage after the work: the script cut in half, still JavaScript, that defines nothing', async () => {
    const full = await realScript();
    await addFault({ kind: 'garbage', body: 'truncated_json', phase: 'after' });
    const response = await loadScript();
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type')!, /^text\/javascript/, 'a truncated script keeps its type');
    const text = await response.text();
    assert.ok(text.length > 0 && text.length < full.length && full.startsWith(text), 'a strict prefix of the script');
    assert.throws(() => new Script(text), SyntaxError);
  });

  test('latency delays the script by the configured time', async () => {
    await addFault({ kind: 'latency', ms: 400 });
    const started = Date.now();
    const response = await loadScript();
    assert.ok(Date.now() - started >= 350, `answered after ${Date.now() - started} ms`);
    assert.match(await response.text(), /SandboxBankLightbox/);
  });

  test('timeout: the script request is held until the browser gives up', async () => {
    await addFault({ kind: 'timeout', hold_ms: 30_000 });
    await assert.rejects(loadScript(AbortSignal.timeout(300)), { name: 'TimeoutError' });
  });

  test('a rule narrowed to the script path breaks the SDK and leaves the API working', async () => {
    await addFault({ kind: 'error', status: 500, path: SCRIPT });
    assert.equal((await loadScript()).status, 500);
    const api = await t.call('bank', 'GET', '/bank/v1/payments/bpay_missing');
    assert.equal(api.status, 404);
    assert.equal(api.body.error_code, 'NOT_FOUND');
    assert.deepEqual(t.sim.admin.requests({ provider: 'bank' }).at(-2)!.faults, ['error']);
  });
});
