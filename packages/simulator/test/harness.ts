/**
 * What simulator tests stand on: a simulator on an ephemeral port, a webhook
 * receiver on 127.0.0.1 that can be told to fail, and small HTTP helpers.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after } from 'node:test';
import { type Provider, type RunningSimulator, type SimulatorOptions, startSimulator } from '../src/index.ts';

export interface ReceivedWebhook {
  path: string;
  headers: IncomingHttpHeaders;
  raw: string;
  body: Record<string, unknown>;
  /** The status the receiver answered. */
  status: number;
}

/** A local webhook endpoint: answers 200, or the statuses queued with `failNext`. */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  #failures: number[] = [];
  #server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const raw = Buffer.concat(chunks).toString();
      const status = this.#failures.shift() ?? 200;
      this.received.push({ path: request.url ?? '/', headers: request.headers, raw, body: JSON.parse(raw), status });
      response.writeHead(status).end(status < 300 ? 'ok' : 'no');
    });
  });
  url = '';

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  /** The next deliveries get these statuses (then 200 again). */
  failNext(...statuses: number[]): void {
    this.#failures.push(...statuses);
  }

  accepted(path?: string): ReceivedWebhook[] {
    return this.received.filter((w) => w.status < 300 && (!path || w.path === path));
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** Polls until `check` returns a value (not undefined/false), or fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 3000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Each provider's API key header, as a connector would send it. */
export const AUTH: Record<Provider, Record<string, string>> = {
  bank: { 'x-bank-api-key': 'sk_test_bank' },
  cards: { authorization: 'Bearer sk_test_cards' },
  crypto: { 'x-ramp-key': 'sk_test_ramp' },
  kyc: { 'x-app-token': 'sk_test_kyc' },
};

export const IDEMPOTENCY_HEADER: Record<Provider, string> = {
  bank: 'x-idempotency-key',
  cards: 'idempotency-key',
  crypto: 'x-ramp-idempotency-key',
  kyc: 'x-idempotency-token',
};

export interface Answer {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: provider JSON is inspected field by field in tests
  body: any;
  text: string;
}

export interface TestSimulator {
  sim: RunningSimulator;
  url: string;
  receiver: WebhookReceiver;
  /** A call to a provider's API with its API key; `idempotencyKey` uses its idempotency header. */
  call(
    provider: Provider,
    method: string,
    path: string,
    body?: unknown,
    options?: { idempotencyKey?: string; headers?: Record<string, string>; auth?: boolean },
  ): Promise<Answer>;
  admin(method: string, path: string, body?: unknown): Promise<Answer>;
  /** Advances the simulated clock. */
  advance(seconds: number): void;
}

async function answerOf(response: Response): Promise<Answer> {
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.status, headers: response.headers, body, text };
}

/**
 * A simulator for one test file, closed when the file ends. Settlement is an hour
 * away by default so tests move time explicitly; webhook retries are a few ms apart.
 */
export async function startTestSimulator(options: SimulatorOptions = {}): Promise<TestSimulator> {
  const receiver = await new WebhookReceiver().start();
  const errors: unknown[] = [];
  const sim = await startSimulator({
    settleDelayMs: 3_600_000,
    blockIntervalMs: 60_000,
    webhookRetryDelaysMs: [5, 10, 20, 40],
    webhookTimeoutMs: 2000,
    tickMs: 5,
    webhookTargets: {
      bank: `${receiver.url}/bank`,
      cards: `${receiver.url}/cards`,
      crypto: `${receiver.url}/crypto`,
      kyc: `${receiver.url}/kyc`,
    },
    onError: (error) => errors.push(error),
    ...options,
  });
  after(async () => {
    await sim.close();
    await receiver.close();
    // A bug inside the simulator (a throw in a timed task, a handler crash) fails the file.
    if (errors.length > 0) throw new AggregateError(errors, 'the simulator reported unexpected errors');
  });
  return {
    sim,
    url: sim.url,
    receiver,
    async call(provider, method, path, body, callOptions = {}) {
      const headers: Record<string, string> = { ...(callOptions.auth === false ? {} : AUTH[provider]) };
      if (body !== undefined) headers['content-type'] = 'application/json';
      if (callOptions.idempotencyKey) headers[IDEMPOTENCY_HEADER[provider]] = callOptions.idempotencyKey;
      Object.assign(headers, callOptions.headers);
      const response = await fetch(`${sim.url}${path}`, {
        method,
        headers,
        body: body === undefined ? null : JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
      return answerOf(response);
    },
    async admin(method, path, body) {
      const response = await fetch(`${sim.url}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? null : JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
      return answerOf(response);
    },
    advance(seconds) {
      sim.admin.advanceClock(seconds);
    },
  };
}

/** The first POST form of a hosted page: its action and the values its fields carry. */
export function formOf(html: string): {
  action: string;
  fields: Record<string, string>;
  buttons: Record<string, string[]>;
} {
  const form = /<form method="post" action="([^"]+)">([\s\S]*?)<\/form>/.exec(html);
  if (!form) throw new Error('no POST form on the page');
  const fields: Record<string, string> = {};
  for (const input of form[2]!.matchAll(/<input([^>]*)>/g)) {
    const name = /name="([^"]+)"/.exec(input[1]!)?.[1];
    const value = /value="([^"]*)"/.exec(input[1]!)?.[1] ?? '';
    const unchecked = /type="checkbox"/.test(input[1]!) && !/\bchecked\b/.test(input[1]!);
    if (name && !unchecked) fields[name] = value;
  }
  for (const select of form[2]!.matchAll(/<select[^>]*name="([^"]+)"[^>]*>\s*<option value="([^"]*)"/g)) {
    fields[select[1]!] = select[2]!;
  }
  const buttons: Record<string, string[]> = {};
  for (const button of form[2]!.matchAll(/<button[^>]*name="([^"]+)" value="([^"]+)"/g)) {
    buttons[button[1]!] = [...(buttons[button[1]!] ?? []), button[2]!];
  }
  return { action: form[1]!, fields, buttons };
}

/** Loads a hosted page and submits its form the way a browser would, pressing `button`. */
export async function submitPage(
  pageUrl: string,
  button: { name: string; value: string },
): Promise<{ page: Response; submitted: Response; html: string }> {
  const page = await fetch(pageUrl);
  const html = await page.text();
  const form = formOf(html);
  if (!form.buttons[button.name]?.includes(button.value)) {
    throw new Error(`the page has no ${button.name}=${button.value} button`);
  }
  const action = new URL(form.action, pageUrl).toString();
  const submitted = await fetch(action, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ...form.fields, [button.name]: button.value }).toString(),
  });
  return { page, submitted, html };
}
