import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { launchPage, widgetAssets } from '../src/index.ts';

describe('the launch page', () => {
  test('allows scripts and frames only from itself and the provider SDK origins', () => {
    const { contentSecurityPolicy } = launchPage({
      assetsPath: '/widget/v1/assets/',
      paymentId: 'pay_1',
      sdkBaseUrls: {
        simbank: 'http://127.0.0.1:4100/',
        other: 'http://127.0.0.1:4100/sandbox',
        broken: 'not a url',
        script: 'javascript:alert(1)',
      },
    });
    const directives = Object.fromEntries(
      contentSecurityPolicy.split('; ').map((directive) => {
        const [name, ...values] = directive.split(' ');
        return [name, values];
      }),
    );
    assert.deepEqual(directives['default-src'], ["'none'"]);
    assert.deepEqual(directives['script-src'], ["'self'", 'http://127.0.0.1:4100']);
    assert.deepEqual(directives['frame-src'], ['http://127.0.0.1:4100']);
    assert.deepEqual(directives['connect-src'], ["'self'"]);
    assert.deepEqual(directives['base-uri'], ["'none'"]);
  });

  test('without provider SDKs, frames nothing and runs only its own scripts', () => {
    const { contentSecurityPolicy } = launchPage({ assetsPath: '/a/', paymentId: 'pay_1', sdkBaseUrls: {} });
    assert.match(contentSecurityPolicy, /script-src 'self';/);
    assert.match(contentSecurityPolicy, /frame-src 'none';/);
  });

  test('embeds its configuration so that no value can end the data block', () => {
    const paymentId = '</script><script>alert(1)</script>';
    const { html } = launchPage({
      assetsPath: '/widget/v1/assets/',
      paymentId,
      sdkBaseUrls: { simbank: 'http://127.0.0.1:4100' },
      sdkTimeoutMs: 500,
    });
    assert.equal(html.match(/<script/g)?.length, 2, 'the data block and launch.js, nothing injected');
    const block = /<script type="application\/json" id="rampart-launch">(.*)<\/script>/.exec(html)![1]!;
    assert.deepEqual(JSON.parse(block), {
      paymentId,
      sdkBaseUrls: { simbank: 'http://127.0.0.1:4100' },
      sdkTimeoutMs: 500,
    });
    assert.match(html, /<script type="module" src="\/widget\/v1\/assets\/launch\.js"><\/script>/);
  });
});

describe('the browser files', () => {
  test('are the ES modules, JSON module and stylesheet the page loads, with their content types', () => {
    const assets = widgetAssets();
    for (const name of ['launch.js', 'provider-sdk.js', 'provider-sdks.js', 'errors.js', 'host-messages.js']) {
      assert.equal(assets.get(name)?.contentType, 'text/javascript; charset=utf-8', name);
    }
    assert.equal(assets.get('catalog.json')?.contentType, 'application/json; charset=utf-8');
    assert.equal(assets.get('launch.css')?.contentType, 'text/css; charset=utf-8');
  });
});
