/**
 * What a provider call makes of answers that are not answers. The conformance suite
 * drives every simulator fault through each connector; these are the ones no sandbox
 * provider gives: a redirect, and a body that is JSON but not an object.
 */
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { isRampartError } from '@rampart/errors';
import { CircuitBreaker } from '../src/circuit-breaker.ts';
import { callProvider } from '../src/http.ts';

let answer: (response: ServerResponse) => void = (response) => response.end();
let requests = 0;
const server = createServer((request, response) => {
  requests++;
  request.resume();
  request.on('end', () => answer(response));
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
after(() => new Promise((resolve) => server.close(resolve)));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

async function codeOf(respond: (response: ServerResponse) => void): Promise<string> {
  answer = respond;
  const breaker = new CircuitBreaker();
  try {
    await callProvider('simcard', breaker, { method: 'POST', url: `${base}/v1/charges`, body: {}, timeoutMs: 2_000 });
    return 'answered';
  } catch (error) {
    assert.ok(isRampartError(error), String(error));
    return error.code;
  }
}

describe('provider calls', () => {
  test('a redirect is not followed and is no answer: upstream_invalid_response', async () => {
    const before = requests;
    const code = await codeOf((response) => {
      response.writeHead(302, { location: `${base}/elsewhere`, 'content-type': 'application/json' });
      response.end('{"id":"ch_1","status":"succeeded"}');
    });
    assert.equal(code, 'upstream_invalid_response');
    assert.equal(requests - before, 1, 'the redirect was not followed');
  });

  test('JSON that is not an object is upstream_invalid_response; an object is the answer', async () => {
    assert.equal(await codeOf((response) => response.end('"succeeded"')), 'upstream_invalid_response');
    assert.equal(await codeOf((response) => response.end('{"status":"succeeded"}')), 'answered');
  });
});
