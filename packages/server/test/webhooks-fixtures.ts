/**
 * What webhook API tests share: an app whose signing secrets a test worker can open,
 * a receiver that verifies with the reference `standardwebhooks` library, and a worker
 * on a fast retry schedule.
 */
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after } from 'node:test';
import { createIdGenerator, type Database, systemClock } from '@rampart/core';
import { defaultWebhookConfig, SecretBox, WebhookWorker } from '@rampart/webhooks';
import { Webhook } from 'standardwebhooks';
import { startTestApp, type TestApp } from './harness.ts';

export const SECRETS_KEY = '5a'.repeat(32);

export async function startWebhookApp(env: Record<string, string> = {}): Promise<TestApp> {
  return startTestApp({ env: { RAMPART_SECRETS_KEY: SECRETS_KEY, ...env } });
}

/** A webhook worker on `db`, of a development server unless `devServer` is false (as `npm start` on one). */
export function startWorker(db: Database, devServer = true): WebhookWorker {
  const worker = new WebhookWorker({
    db,
    ids: createIdGenerator(),
    clock: systemClock,
    config: { ...defaultWebhookConfig, retrySchedule: [0, 30, 30], pollIntervalMs: 20, timeoutMs: 2_000 },
    secrets: SecretBox.forWebhookSecrets(Buffer.from(SECRETS_KEY, 'hex')),
    devServer,
  }).start();
  after(() => worker.stop());
  return worker;
}

export interface Delivered {
  /** Path and query the request was sent to; tests give each endpoint its own. */
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  event: { id: string; type: string; subject_id: string; sequence: number; data: Record<string, unknown> };
  valid: boolean;
}

/** Answers 200 "thanks"; checks every signature against `secret`. */
export async function startReceiver(): Promise<{ url: string; received: Delivered[]; secret: { value: string } }> {
  const received: Delivered[] = [];
  const secret = { value: '' };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      let valid = false;
      try {
        new Webhook(secret.value).verify(body, req.headers as Record<string, string>);
        valid = true;
      } catch {}
      received.push({ path: req.url ?? '', headers: req.headers, body, event: JSON.parse(body), valid });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('thanks');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks`, received, secret };
}

/**
 * `GET /v1/events` with `query` (`type`, `subject_id`) as the harness operator's key reads
 * it, once it lists every such event committed so far: the API holds an event back while
 * a write transaction older than it is open (a webhook being applied at that moment).
 */
export async function listedEvents(
  t: TestApp,
  query: { type?: string; subject_id?: string },
  // biome-ignore lint/suspicious/noExplicitAny: events are inspected field by field
): Promise<any[]> {
  const params = new URLSearchParams({ ...query, limit: '100' });
  return eventually(
    `events ${params} listed`,
    async () => {
      const { rows } = await t.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM events
          WHERE operator_id = $1 AND ($2::text IS NULL OR type = $2)
            AND ($3::text IS NULL OR subject_id IN ($3, $1 || '/' || $3))`,
        [t.operatorId, query.type ?? null, query.subject_id ?? null],
      );
      const listed = (await t.app.inject({ method: 'GET', url: `/v1/events?${params}`, headers: t.auth })).json()
        .data as unknown[];
      return { listed, committed: Math.min(rows[0]!.n, 100) };
    },
    ({ listed, committed }) => listed.length === committed,
  ).then(({ listed }) => listed);
}

export async function eventually<T>(what: string, probe: () => T | Promise<T>, ok: (v: T) => boolean): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const value = await probe();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
