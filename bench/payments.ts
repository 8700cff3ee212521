/**
 * Payment figures for `npm run bench`: creating a card deposit (idempotency key,
 * limits, gates, a real HTTP call to the sandbox card processor, the state change,
 * the ledger posting, the outbox events and the processor's webhook, all committed)
 * beside the floor of the same deposit (`floor.ts`) measured in the same run; and
 * polling a payment beside the hello-world server.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Figure } from './run.ts';
import { child, freePort, load, withCpu } from './run.ts';

const here = new URL('.', import.meta.url).pathname;

/** The floor server (`records`: with the records) with a simulator of its own, whose card webhooks go to it. */
async function startFloor(
  databaseUrl: string,
  records: boolean,
): Promise<{ url: string; pids: Record<string, number>; stop(): void }> {
  const [floorPort, simulatorPort] = [await freePort(), await freePort()];
  const simulator = await child(
    [join(here, '..', 'packages/simulator/src/main.ts')],
    { PORT: String(simulatorPort), SIMULATOR_WEBHOOK_URL_CARDS: `http://127.0.0.1:${floorPort}/webhooks/cards` },
    /Simulator/,
  );
  const floor = await child(
    [
      join(here, 'floor.ts'),
      JSON.stringify({ databaseUrl, simulatorUrl: `http://127.0.0.1:${simulatorPort}`, port: floorPort, records }),
    ],
    {},
    /\n/,
  );
  return {
    url: `http://127.0.0.1:${floorPort}`,
    pids: { floor: floor.proc.pid!, simulator: simulator.proc.pid! },
    stop: () => {
      floor.proc.kill('SIGTERM');
      simulator.proc.kill('SIGTERM');
    },
  };
}

/** How many times each paired measurement is taken: the median of three resists one outlier. */
const ROUNDS = 3;

/**
 * Runs `round` ROUNDS times and answers the round whose `ratio` is the median, with every
 * round's ratio (as printed, two decimals).
 */
async function pairedRounds<T>(
  round: () => Promise<T>,
  ratio: (measured: T) => number,
): Promise<{ median: T; ratios: string }> {
  const measured: { value: T; ratio: number }[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const value = await round();
    measured.push({ value, ratio: ratio(value) });
  }
  const ratios = measured.map((m) => m.ratio.toFixed(2)).join(', ');
  const sorted = [...measured].sort((a, b) => a.ratio - b.ratio);
  return { median: sorted[Math.floor(sorted.length / 2)]!.value, ratios };
}

export async function benchPayments(options: {
  apiUrl: string;
  auth: Record<string, string>;
  /** The hello-world server polling is measured beside, round by round. */
  helloUrl: string;
  pgRps: number;
  databaseUrl: string;
  /** The processes whose CPU a create is charged with, besides PostgreSQL and the load generator. */
  pids: Record<string, number>;
}): Promise<Figure[]> {
  const headers = { ...options.auth, 'content-type': 'application/json' };
  const configured = await fetch(`${options.apiUrl}/v1/operator/settings`, {
    method: 'PATCH',
    headers,
    body: JSON.stringify({
      required_gates: { terms: false, email: false, phone: false, kyc: 'none', geo: false },
      providers: { deposit: [{ provider: 'simcard', blocked_jurisdictions: [] }] },
      limits: { deposit: { USD: { min: '1.00', max: '100000.00' } } },
    }),
  });
  assert.equal(configured.status, 200, await configured.text());
  const body = JSON.stringify({
    user_id: '__USER__',
    kind: 'deposit',
    method: 'card',
    amount: '25.00',
    currency: 'USD',
    instrument: { card_number: '4242424242424242', exp_month: 12, exp_year: 2030, cvc: '123' },
  });
  // Polling first, on an otherwise idle system like its baseline: the create load leaves
  // background work (provider webhooks, event fan-out) that would be measured with it.
  const one = await fetch(`${options.apiUrl}/v1/payments`, {
    method: 'POST',
    headers,
    body: body.replace('__USER__', 'poller'),
  });
  const payment = (await one.json()) as { id: string };
  // Paired rounds, each baseline measured just before its figure: noise that drifts
  // through a run (other work on a shared machine) touches both sides of a pair alike.
  const polling = await pairedRounds(
    async () => {
      const hello = await load({ url: options.helloUrl });
      const poll = await load({ url: `${options.apiUrl}/v1/payments/${payment.id}`, headers: options.auth });
      return { hello, poll };
    },
    ({ hello, poll }) => poll.rps / hello.rps,
  );
  const { hello, poll } = polling.median;
  // The same load on both: 32 connections, 500 users, a fresh Idempotency-Key each.
  const createLoad = { method: 'POST', body, uniqueIdempotencyKey: true, users: 500, connections: 32 };
  const floorLoad = async (records: boolean) => {
    const server = await startFloor(options.databaseUrl, records);
    return withCpu(server.pids, () =>
      load({ ...createLoad, url: `${server.url}/deposits`, headers: { 'content-type': 'application/json' } }),
    ).finally(() => server.stop());
  };
  const creates = await pairedRounds(
    async () => ({
      floor: await floorLoad(false),
      recordsFloor: await floorLoad(true),
      create: await withCpu(options.pids, () => load({ ...createLoad, url: `${options.apiUrl}/v1/payments`, headers })),
    }),
    ({ create, recordsFloor }) => create.rps / recordsFloor.rps,
  );
  const { floor, recordsFloor, create } = creates.median;
  // Latency when not saturated: the same creates, paced at half the rate just reached.
  const halfRate = Math.max(1, Math.round(create.rps / 2));
  const paced = await load({ ...createLoad, url: `${options.apiUrl}/v1/payments`, headers, overallRate: halfRate });
  return [
    {
      name: 'card deposit floor: insert, provider call, update, webhook insert (baseline)',
      rps: floor.rps,
      p99: floor.p99,
      baseline: 'raw PostgreSQL SELECT 1',
      baselineRps: options.pgRps,
      cpuPerRequest: floor.cpuPerRequest,
    },
    {
      name: 'card deposit floor with the records a create keeps: idempotency key, event, ledger transfer',
      rps: recordsFloor.rps,
      p99: recordsFloor.p99,
      baseline: 'card deposit floor',
      baselineRps: floor.rps,
      cpuPerRequest: recordsFloor.cpuPerRequest,
    },
    {
      name: 'POST /v1/payments (card deposit, completed)',
      rps: create.rps,
      p99: create.p99,
      baseline: 'card deposit floor',
      baselineRps: floor.rps,
      target: '>= 1500/s, p99 <= 50 ms',
      cpuPerRequest: create.cpuPerRequest,
    },
    {
      name: `POST /v1/payments beside the floor with records (median of paired rounds: ${creates.ratios})`,
      rps: create.rps,
      p99: create.p99,
      baseline: 'card deposit floor with records',
      baselineRps: recordsFloor.rps,
    },
    {
      name: `POST /v1/payments paced at half that rate (${halfRate}/s)`,
      rps: paced.rps,
      p99: paced.p99,
      baseline: '-',
      baselineRps: 0,
    },
    {
      name: `GET /v1/payments/{id} (polling; median of paired rounds: ${polling.ratios})`,
      rps: poll.rps,
      p99: poll.p99,
      baseline: 'fastify hello-world',
      baselineRps: hello.rps,
      target: '>= 0.40 of hello-world',
    },
  ];
}
