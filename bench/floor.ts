/**
 * The floor of a card deposit, as a baseline for `POST /v1/payments`: the least any
 * cashier must do for one, on the same stack (fastify, pg, undici) and the same
 * simulated card processor. Per deposit: the request parsed, one durable insert before
 * the processor is called (so that nothing can be charged unrecorded), the processor's
 * answer written by one update, and the processor's webhook recorded by one insert.
 * No authentication, idempotency, limits, gates, timeline, events or ledger: what
 * Rampart costs beyond this floor is what those cost.
 *
 * With `"records": true`, the floor of the records the payments issue asks a create to
 * keep, in the fewest statements raw SQL allows: the Idempotency-Key claimed with the
 * payment's insert (one statement, one commit, before the processor is called); then in
 * one statement, one commit: the processor's answer, the event, a balanced ledger transfer
 * of three entries (user, clearing, fee) over locked accounts whose floors a CHECK
 * enforces, and the key's stored response. The processor's webhook is verified
 * (HMAC-SHA256) before it is recorded. Still no authentication, gates, limits or timeline:
 * what no cashier that keeps those records could do without, on this machine.
 *
 *   node bench/floor.ts '{"databaseUrl":"…","simulatorUrl":"…","port":0,"records":false}'
 *
 * Prints `{"port":N}` once listening.
 */
import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import Fastify from 'fastify';
import pg from 'pg';
import { request } from 'undici';

const spec = JSON.parse(process.argv[2] ?? '{}') as {
  databaseUrl: string;
  simulatorUrl: string;
  port: number;
  records?: boolean;
};
const pool = new pg.Pool({ connectionString: spec.databaseUrl, max: 10 });
// The amount is stored as Rampart stores amounts (numeric(78, 0), migration 0020), so the
// floor's rows cost what the cashier's would.
await pool.query(`CREATE SCHEMA IF NOT EXISTS bench_floor;
  CREATE TABLE IF NOT EXISTS bench_floor.deposits (id text PRIMARY KEY, user_id text NOT NULL,
    amount numeric(78, 0) NOT NULL,
    status text NOT NULL, provider_ref text, created_at timestamptz NOT NULL DEFAULT now());
  CREATE TABLE IF NOT EXISTS bench_floor.provider_events (body jsonb NOT NULL, received_at timestamptz NOT NULL DEFAULT now());
  CREATE TABLE IF NOT EXISTS bench_floor.idempotency_keys (key text PRIMARY KEY, request_hash text NOT NULL,
    state text NOT NULL, response_status int, response_body text, created_at timestamptz NOT NULL DEFAULT now());
  CREATE TABLE IF NOT EXISTS bench_floor.events (id text PRIMARY KEY, subject_id text NOT NULL, type text NOT NULL,
    data jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
  CREATE TABLE IF NOT EXISTS bench_floor.accounts (id text PRIMARY KEY, balance numeric(78, 0) NOT NULL DEFAULT 0,
    floor numeric(78, 0), CHECK (floor IS NULL OR balance >= floor));
  CREATE TABLE IF NOT EXISTS bench_floor.transfers (id text PRIMARY KEY, payment_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now());
  CREATE TABLE IF NOT EXISTS bench_floor.entries (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transfer_id text NOT NULL REFERENCES bench_floor.transfers, account_id text NOT NULL REFERENCES bench_floor.accounts,
    amount numeric(78, 0) NOT NULL);
  INSERT INTO bench_floor.accounts (id) VALUES ('clearing'), ('fees') ON CONFLICT DO NOTHING`);

interface Deposit {
  user_id: string;
  amount: string;
  currency: string;
  instrument: { card_number: string; exp_month: number; exp_year: number; cvc: string };
}

/** Before the processor is called: the deposit, and with `records` its Idempotency-Key claimed. */
async function insert(id: string, deposit: Deposit, amount: number, key: string | undefined): Promise<void> {
  if (!spec.records) {
    await pool.query({
      name: 'insert',
      text: `INSERT INTO bench_floor.deposits (id, user_id, amount, status) VALUES ($1, $2, $3, 'created')`,
      values: [id, deposit.user_id, amount],
    });
    return;
  }
  const hash = createHash('sha256').update(JSON.stringify(deposit)).digest('base64url');
  const { rowCount } = await pool.query({
    name: 'insert-claimed',
    text: `WITH claimed AS (
             INSERT INTO bench_floor.idempotency_keys (key, request_hash, state) VALUES ($4, $5, 'running')
             ON CONFLICT DO NOTHING RETURNING key),
           account AS (
             INSERT INTO bench_floor.accounts (id, floor) SELECT 'user:' || $2, 0 FROM claimed
             ON CONFLICT DO NOTHING)
           INSERT INTO bench_floor.deposits (id, user_id, amount, status) SELECT $1, $2, $3, 'created' FROM claimed`,
    values: [id, deposit.user_id, amount, key, hash],
  });
  if (rowCount !== 1) throw new Error('idempotency key in use');
}

/** The processor's answer; with `records`, its event, ledger transfer and stored response too. */
async function answer(id: string, deposit: Deposit, amount: number, key: string | undefined, provider: ProviderAnswer) {
  const body = { id, status: provider.status };
  if (!spec.records) {
    await pool.query({
      name: 'answer',
      text: 'UPDATE bench_floor.deposits SET status = $2, provider_ref = $3 WHERE id = $1',
      values: [id, provider.status, provider.id],
    });
    return body;
  }
  const fee = Math.round(amount / 100);
  await pool.query({
    name: 'answer-recorded',
    text: `WITH answered AS (
             UPDATE bench_floor.deposits SET status = $2, provider_ref = $3 WHERE id = $1 AND status = 'created'
             RETURNING id),
           event AS (
             INSERT INTO bench_floor.events (id, subject_id, type, data)
             SELECT $4, id, 'payment.completed', $5::jsonb FROM answered),
           transfer AS (
             INSERT INTO bench_floor.transfers (id, payment_id) SELECT $6, id FROM answered RETURNING id),
           locked AS (
             SELECT id FROM bench_floor.accounts WHERE id = ANY($7::text[]) AND EXISTS (SELECT 1 FROM transfer)
              ORDER BY id FOR NO KEY UPDATE),
           entries AS (
             INSERT INTO bench_floor.entries (transfer_id, account_id, amount)
             SELECT transfer.id, e.account_id, e.amount FROM transfer, unnest($7::text[], $8::numeric[]) AS e(account_id, amount)),
           balances AS (
             UPDATE bench_floor.accounts a SET balance = a.balance + e.amount
               FROM unnest($7::text[], $8::numeric[]) AS e(account_id, amount)
              WHERE a.id = e.account_id AND a.id IN (SELECT id FROM locked))
           UPDATE bench_floor.idempotency_keys SET state = 'done', response_status = 201, response_body = $9
            WHERE key = $10 AND EXISTS (SELECT 1 FROM answered)`,
    values: [
      id,
      provider.status,
      provider.id,
      `evt_${randomUUID()}`,
      JSON.stringify(body),
      `tr_${randomUUID()}`,
      ['clearing', 'fees', `user:${deposit.user_id}`],
      [-amount, fee, amount - fee],
      JSON.stringify(body),
      key,
    ],
  });
  return body;
}

interface ProviderAnswer {
  id: string;
  status: string;
}

/** The sandbox processor's signature, checked as any cashier must before trusting a webhook. */
function verified(header: unknown, rawBody: string): boolean {
  const parts = String(header ?? '')
    .split(',')
    .map((part) => part.split('='));
  const timestamp = parts.find(([k]) => k === 't')?.[1];
  const given = Buffer.from(parts.find(([k]) => k === 'v1')?.[1] ?? '', 'hex');
  const expected = createHmac('sha256', 'whsec_sim_cards').update(`${timestamp}.${rawBody}`).digest();
  return given.length === expected.length && timingSafeEqual(given, expected);
}

const app = Fastify();
if (spec.records)
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, { raw: body, parsed: JSON.parse(body as string) });
    } catch (error) {
      done(error as Error);
    }
  });
/** The parsed body, and its text where `records` keeps it to verify a signature. */
function bodyOf<T>(raw: unknown): { raw: string; parsed: T } {
  return spec.records ? (raw as { raw: string; parsed: T }) : { raw: '', parsed: raw as T };
}

app.post('/deposits', async (req, reply) => {
  const deposit = bodyOf<Deposit>(req.body).parsed;
  const key = req.headers['idempotency-key'] as string | undefined;
  const id = `dep_${randomUUID()}`;
  const amount = Math.round(Number(deposit.amount) * 100);
  await insert(id, deposit, amount, key);
  const response = await request(`${spec.simulatorUrl}/cards/v1/payments`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: 'Bearer sk_sandbox_simcard',
      'idempotency-key': id,
    },
    body: JSON.stringify({
      amount,
      currency: deposit.currency.toLowerCase(),
      payment_method: {
        type: 'card',
        card: {
          number: deposit.instrument.card_number,
          exp_month: deposit.instrument.exp_month,
          exp_year: deposit.instrument.exp_year,
          cvc: deposit.instrument.cvc,
        },
      },
      capture_method: 'automatic',
      customer: { id: deposit.user_id },
      metadata: { rampart_payment_id: id },
    }),
  });
  const provider = (await response.body.json()) as ProviderAnswer;
  return reply.code(201).send(await answer(id, deposit, amount, key, provider));
});
app.post('/webhooks/cards', async (req, reply) => {
  const { raw, parsed } = bodyOf<unknown>(req.body);
  if (spec.records && !verified(req.headers['x-sim-signature'], raw))
    return reply.code(400).send({ error: 'signature' });
  await pool.query({
    name: 'event',
    text: 'INSERT INTO bench_floor.provider_events (body) VALUES ($1)',
    values: [spec.records ? raw : JSON.stringify(parsed)],
  });
  return reply.code(200).send({ received: true });
});
await app.listen({ port: spec.port, host: '127.0.0.1' });
console.log(JSON.stringify({ port: (app.server.address() as { port: number }).port }));
