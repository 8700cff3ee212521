/**
 * Webhook fan-out and delivery throughput, beside a raw HTTP baseline of the same run.
 *
 *   node bench/webhooks.ts                 embedded PostgreSQL in a temporary directory
 *   DATABASE_URL=postgres://… node bench/webhooks.ts
 *
 * A receiver runs in its own process on 127.0.0.1 and answers 200 at once. Rampart:
 * N events are put in the outbox (4 per payment, so per-subject ordering is in play),
 * then one worker fans them out and delivers them — signed, logged, with per-attempt
 * rows — until the receiver has every one. Baseline: the same N POSTs of the same size
 * from one process with the same concurrency and keep-alive, nothing else.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { API_VERSION, createIdGenerator, Database, migrate, Operators, systemClock } from '@rampart/core';
import { startEmbeddedPostgres } from '@rampart/server';
import { defaultWebhookConfig, SecretBox, WebhookEndpoints, WebhookWorker } from '@rampart/webhooks';
import pg from 'pg';

export interface WebhookBenchOptions {
  /** An existing PostgreSQL; a scratch database is created in it and dropped after. */
  databaseUrl?: string;
  events?: number;
  concurrency?: number;
  eventsPerPayment?: number;
}

export interface WebhookBenchResult {
  name: string;
  events: number;
  concurrency: number;
  rampartPerSecond: number;
  baselinePerSecond: number;
  /** Rampart's rate as a fraction of the baseline. */
  ratio: number;
  target: number;
}

const RECEIVER_FLAG = '--receiver';

/** The receiver process: counts requests, answers 200 "ok". */
function runReceiver(): void {
  let count = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      count++;
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.stdout.write(`port ${typeof address === 'object' && address ? address.port : 0}\n`);
  });
  process.stdin.on('data', () => process.stdout.write(`count ${count}\n`));
}

async function startReceiver(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), RECEIVER_FLAG], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (chunk: Buffer) => resolve(Number(/port (\d+)/.exec(chunk.toString())?.[1])));
    child.once('exit', () => reject(new Error('receiver exited')));
  });
  return { url: `http://127.0.0.1:${port}/hooks`, child };
}

async function scratchDatabase(options: WebhookBenchOptions): Promise<{ url: string; cleanup: () => Promise<void> }> {
  if (options.databaseUrl) {
    const name = `rampart_bench_webhooks_${process.pid}`;
    const admin = new pg.Client({ connectionString: options.databaseUrl });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${name}`);
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const url = new URL(options.databaseUrl);
    url.pathname = `/${name}`;
    return {
      url: url.toString(),
      cleanup: async () => {
        const drop = new pg.Client({ connectionString: options.databaseUrl });
        await drop.connect();
        await drop.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await drop.end();
      },
    };
  }
  const dir = mkdtempSync(join(tmpdir(), 'rampart-bench-'));
  const cluster = await startEmbeddedPostgres({ dataDir: dir });
  return {
    url: cluster.url,
    cleanup: async () => {
      await cluster.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Plain POSTs: one process, `concurrency` at once, keep-alive, a body of the same size. */
async function baseline(url: string, total: number, concurrency: number, body: string): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const post = () =>
    new Promise<void>((resolve, reject) => {
      const req = http.request(url, {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      });
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end(body);
    });
  let sent = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (sent < total) {
        sent++;
        await post();
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  return total / seconds;
}

export async function benchWebhooks(options: WebhookBenchOptions = {}): Promise<WebhookBenchResult> {
  const total = options.events ?? 20_000;
  const concurrency = options.concurrency ?? 64;
  const perPayment = options.eventsPerPayment ?? 4;
  const receiver = await startReceiver();
  const database = await scratchDatabase(options);
  const db = new Database({ connectionString: database.url, maxConnections: 8, applicationName: 'rampart-bench' });
  try {
    await migrate(db);
    const ids = createIdGenerator();
    const clock = systemClock;
    const secrets = SecretBox.forWebhookSecrets(Buffer.alloc(32, 1));
    const { operator } = await new Operators(db, ids, clock).create({ name: 'Bench Operator' });
    const endpoints = new WebhookEndpoints({ db, ids, clock, secrets, config: defaultWebhookConfig });
    await endpoints.create({ operatorId: operator.id, allowPrivate: true }, { url: receiver.url });

    // The outbox, filled in one statement: `perPayment` events per payment, sequences 1…n.
    const payments = Math.ceil(total / perPayment);
    await db.query(
      `INSERT INTO events (id, operator_id, type, api_version, subject_id, sequence, data, created_at)
       SELECT 'evt_bench_' || lpad(g::text, 9, '0'), $1, 'payment.processing', $2, 'pay_bench_' || (g % $4),
              g / $4 + 1, jsonb_build_object('payment_id', 'pay_bench_' || (g % $4), 'amount', 1000,
              'currency', 'USD', 'status', 'processing'), now() + g * interval '1 microsecond'
         FROM generate_series(0, $3 - 1) AS g`,
      [operator.id, API_VERSION, total, payments],
    );
    await db.query('ANALYZE');

    const worker = new WebhookWorker({
      db,
      ids,
      clock,
      secrets,
      config: { ...defaultWebhookConfig, concurrency, pollIntervalMs: 50 },
      // The receiver is on loopback, as on a development server.
      devServer: true,
    });
    const started = performance.now();
    worker.start();
    while (worker.stats.succeeded < total) {
      if (worker.stats.failed > 0) throw new Error(`${worker.stats.failed} deliveries failed`);
      await new Promise((r) => setTimeout(r, 5));
    }
    await worker.stop();
    const rampartPerSecond = total / ((performance.now() - started) / 1000);
    const { rows } = await db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM webhook_deliveries WHERE status = 'succeeded'",
    );
    if (rows[0]!.n !== total) throw new Error(`expected ${total} recorded deliveries, found ${rows[0]!.n}`);

    const body = JSON.stringify({
      id: 'evt_bench_000000000',
      object: 'event',
      type: 'payment.processing',
      api_version: API_VERSION,
      subject_id: 'pay_bench_0',
      sequence: 1,
      data: { payment_id: 'pay_bench_0', amount: 1000, currency: 'USD', status: 'processing' },
      created_at: new Date().toISOString(),
    });
    const baselinePerSecond = await baseline(receiver.url, total, concurrency, body);
    return {
      name: 'webhooks: deliveries/s to a local receiver',
      events: total,
      concurrency,
      rampartPerSecond: Math.round(rampartPerSecond),
      baselinePerSecond: Math.round(baselinePerSecond),
      ratio: Math.round((rampartPerSecond / baselinePerSecond) * 1000) / 1000,
      target: 2_000,
    };
  } finally {
    await db.close();
    receiver.child.kill();
    await database.cleanup();
  }
}

if (import.meta.main) {
  if (process.argv.includes(RECEIVER_FLAG)) runReceiver();
  else {
    const result = await benchWebhooks({
      ...(process.env['DATABASE_URL'] ? { databaseUrl: process.env['DATABASE_URL'] } : {}),
    });
    console.log(`${result.name} (${result.events} events, concurrency ${result.concurrency})`);
    console.log(`  rampart   ${result.rampartPerSecond.toLocaleString('en')} deliveries/s`);
    console.log(`  baseline  ${result.baselinePerSecond.toLocaleString('en')} POSTs/s (raw HTTP, same receiver)`);
    console.log(
      `  ratio     ${result.ratio}   target ≥ ${result.target.toLocaleString('en')}/s: ${result.rampartPerSecond >= result.target ? 'met' : 'NOT met'}`,
    );
  }
}
