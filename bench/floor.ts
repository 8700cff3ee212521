/**
 * The floor of a card deposit, as a baseline for `POST /v1/payments`: the least any
 * cashier must do for one, on the same stack (fastify, pg, undici) and the same
 * simulated card processor. Per deposit: the request parsed, one durable insert before
 * the processor is called (so that nothing can be charged unrecorded), the processor's
 * answer written by one update, and the processor's webhook recorded by one insert.
 * No authentication, idempotency, limits, gates, timeline, events or ledger: what
 * Rampart costs beyond this floor is what those cost.
 *
 *   node bench/floor.ts '{"databaseUrl":"…","simulatorUrl":"…","port":0}'
 *
 * Prints `{"port":N}` once listening.
 */
import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';
import pg from 'pg';
import { request } from 'undici';

const spec = JSON.parse(process.argv[2] ?? '{}') as { databaseUrl: string; simulatorUrl: string; port: number };
const pool = new pg.Pool({ connectionString: spec.databaseUrl, max: 10 });
// The amount is stored as Rampart stores amounts (numeric(78, 0), migration 0020), so the
// floor's rows cost what the cashier's would.
await pool.query(`CREATE SCHEMA IF NOT EXISTS bench_floor;
  CREATE TABLE IF NOT EXISTS bench_floor.deposits (id text PRIMARY KEY, user_id text NOT NULL,
    amount numeric(78, 0) NOT NULL,
    status text NOT NULL, provider_ref text, created_at timestamptz NOT NULL DEFAULT now());
  CREATE TABLE IF NOT EXISTS bench_floor.provider_events (body jsonb NOT NULL, received_at timestamptz NOT NULL DEFAULT now())`);

interface Deposit {
  user_id: string;
  amount: string;
  currency: string;
  instrument: { card_number: string; exp_month: number; exp_year: number; cvc: string };
}

const app = Fastify();
app.post('/deposits', async (req, reply) => {
  const deposit = req.body as Deposit;
  const id = `dep_${randomUUID()}`;
  const amount = Math.round(Number(deposit.amount) * 100);
  await pool.query({
    name: 'insert',
    text: `INSERT INTO bench_floor.deposits (id, user_id, amount, status) VALUES ($1, $2, $3, 'created')`,
    values: [id, deposit.user_id, amount],
  });
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
  const answer = (await response.body.json()) as { id: string; status: string };
  await pool.query({
    name: 'answer',
    text: 'UPDATE bench_floor.deposits SET status = $2, provider_ref = $3 WHERE id = $1',
    values: [id, answer.status, answer.id],
  });
  return reply.code(201).send({ id, status: answer.status });
});
app.post('/webhooks/cards', async (req, reply) => {
  await pool.query({
    name: 'event',
    text: 'INSERT INTO bench_floor.provider_events (body) VALUES ($1)',
    values: [JSON.stringify(req.body)],
  });
  return reply.code(200).send({ received: true });
});
await app.listen({ port: spec.port, host: '127.0.0.1' });
console.log(JSON.stringify({ port: (app.server.address() as { port: number }).port }));
