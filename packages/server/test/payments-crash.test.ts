/**
 * A Rampart server killed (SIGKILL) in the middle of concurrent payments, with the
 * payment processors (the simulator, a process of its own) carrying on. Once a server
 * is up again — the same one restarted, or another already running on the same
 * database — and the clients have retried with their keys, every payment is completed,
 * each was sent to its processor exactly once, and Rampart's books agree with the
 * processor's to the minor unit.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { createTestDatabase } from './harness.ts';
import { BANK_ACCOUNT, CARD_OK } from './payment-fixtures.ts';
import { freePort, launchServer, launchSimulator, openForPaymentsAt, type Process, serverReady } from './processes.ts';
import { eventually } from './webhooks-fixtures.ts';

const USERS = 30;
/** Processor requests held and never worked on: their payments are left unanswered by the crash. */
const NEVER_WORKED = 5;

interface Answer {
  status: number;
  body: { id?: string; status?: string; error?: { code: string } };
}

interface Request {
  key: string;
  body: { user_id: string; amount: string } & Record<string, unknown>;
  /** The answer, before the crash or to a retry after it. */
  answer?: Answer;
}

interface PaymentView {
  id: string;
  kind: string;
  status: string;
  user_id: string;
  amount_minor: string;
}

type Processor = 'cards' | 'bank';

/**
 * A database, the simulator, and a Rampart server configured with `settings`. With
 * `survivor`, a second server on the same database takes the clients (and the
 * processor's webhooks) when the first dies; without, the first is restarted.
 */
async function rig(settings: Record<string, unknown>, options: { survivor?: boolean } = {}) {
  const { db, url: databaseUrl } = await createTestDatabase();
  const port = await freePort();
  const survivorPort = options.survivor ? await freePort() : undefined;
  const hook = (provider: string) => `http://127.0.0.1:${survivorPort ?? port}/v1/provider-webhooks/${provider}`;
  const simulator = await launchSimulator({
    SIMULATOR_WEBHOOK_URL_CARDS: hook('simcard'),
    SIMULATOR_WEBHOOK_URL_BANK: hook('simbank'),
    SIMULATOR_SETTLE_DELAY_MS: '100',
  });
  const admin = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${simulator.url}${path}`, {
      method,
      ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    assert.ok(response.ok, `${method} ${path}: ${response.status}`);
    return response.json();
  };
  const env = {
    DATABASE_URL: databaseUrl,
    RAMPART_DEMO_OPERATOR: 'true',
    PORT: String(port),
    RAMPART_SIMULATOR: 'true',
    RAMPART_SIMULATOR_URL: simulator.url,
    RAMPART_RATE_LIMIT_PER_MINUTE: '0',
    RAMPART_IDEMPOTENCY_LEASE_SECONDS: '3',
  };
  const server = launchServer(env);
  const first = await serverReady(server);
  assert.ok(first.secret, 'fresh database: the demo key is printed');
  const secret = first.secret;
  /** Where clients send: the first server, then whichever took over from it. */
  let url = first.url;
  const survivor = survivorPort ? launchServer({ ...env, PORT: String(survivorPort) }) : undefined;
  const survivorUrl = survivor ? (await serverReady(survivor)).url : undefined;
  const headers = { authorization: `Bearer ${secret}`, 'content-type': 'application/json' };
  await openForPaymentsAt(url, secret, settings);

  const post = async (path: string, key: string, body: unknown = {}): Promise<Answer | undefined> => {
    try {
      const response = await fetch(`${url}${path}`, {
        method: 'POST',
        headers: { ...headers, 'idempotency-key': key },
        body: JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as Answer['body'] };
    } catch {
      return undefined; // the server died with this request open: the client has no answer
    }
  };
  const send = (request: Request) => post('/v1/payments', request.key, request.body);
  const list = async () => {
    const all: PaymentView[] = [];
    for (let cursor = ''; ; ) {
      const page = (await (
        await fetch(`${url}/v1/payments?limit=100${cursor ? `&starting_after=${cursor}` : ''}`, { headers })
      ).json()) as { data: PaymentView[]; next_cursor: string | null };
      all.push(...page.data);
      if (!page.next_cursor) return all;
      cursor = page.next_cursor;
    }
  };

  return {
    db,
    headers,
    admin,
    send,
    post,
    list,
    /** Kills the first server (SIGKILL) and starts it again on the same database. */
    async killAndRestart(): Promise<Process> {
      server.child.kill('SIGKILL');
      await server.exited;
      const restarted = launchServer(env);
      await serverReady(restarted);
      return restarted;
    },
    /**
     * Sends `requests` spread over ~0.7 s through a processor that holds the first few
     * unworked and answers the rest 300 ms after doing their work, and holds its webhooks
     * (some doubled) until told: kills the server once a few are answered, restarts it
     * (or turns to the survivor), and checks the crash left payments unanswered and unsent.
     */
    async crashAmid(processor: Processor, requests: Request[]): Promise<{ server: Process; unsent: string[] }> {
      await admin('POST', '/admin/faults', {
        provider: processor,
        kind: 'timeout',
        hold_ms: 5_000,
        count: NEVER_WORKED,
      });
      await admin('POST', '/admin/faults', { provider: processor, kind: 'latency', ms: 300, phase: 'after' });
      await admin('POST', '/admin/faults', {
        provider: processor,
        kind: 'reorder_webhooks',
        batch: 100,
        hold_ms: 60_000,
      });
      await admin('POST', '/admin/faults', { provider: processor, kind: 'duplicate_webhooks', probability: 0.5 });
      const inFlight = requests.map(async (request, i) => {
        await new Promise((r) => setTimeout(r, i * 12));
        const answer = await send(request);
        if (answer) request.answer = answer;
      });
      await eventually(
        'some payments answered',
        () => requests.filter((r) => r.answer).length,
        (n) => n >= 5,
      );
      server.child.kill('SIGKILL');
      await server.exited;
      await Promise.all(inFlight);
      assert.ok(
        requests.some((r) => !r.answer),
        'the crash caught payments mid-request',
      );
      let live = survivor;
      if (live && survivorUrl) url = survivorUrl;
      else {
        live = launchServer(env);
        await serverReady(live);
      }
      const unsent = (await list()).filter((p) => ['created', 'pending'].includes(p.status));
      assert.ok(unsent.length >= NEVER_WORKED, `the crash left payments unsent (${unsent.length})`);
      return { server: live, unsent: unsent.map((p) => p.id) };
    },
    /** Checks each payment's timeline says a retry took it up where its dead request left it. */
    async assertResumed(ids: string[]): Promise<void> {
      for (const id of ids) {
        const payment = (await (await fetch(`${url}/v1/payments/${id}`, { headers })).json()) as {
          timeline: { cause: string }[];
        };
        assert.ok(
          payment.timeline.some((step) => step.cause === 'resumed by a retry with its Idempotency-Key'),
          `${id}: ${JSON.stringify(payment.timeline)}`,
        );
      }
    },
    /** Clients retry what went unanswered, with the same keys, until answered: a key the dead server held is busy (409) until its lease lapses. */
    async retryUnanswered(requests: Request[]): Promise<void> {
      await Promise.all(
        requests
          .filter((r) => !r.answer)
          .map(async (request) => {
            for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
              const answer = await send(request);
              assert.ok(answer, 'the restarted server answers');
              if (answer.status !== 409) {
                assert.equal(answer.status, 201, `${request.key}: ${JSON.stringify(answer.body)}`);
                request.answer = answer;
                return;
              }
              assert.equal(answer.body.error?.code, 'idempotency_in_progress', JSON.stringify(answer.body));
              await new Promise((r) => setTimeout(r, 250));
            }
            assert.fail(`${request.key} still busy`);
          }),
      );
    },
    /** Lets the processor's held webhooks go (late, some twice, newest first) and waits until Rampart applied them all. */
    async deliverWebhooks(processor: Processor): Promise<void> {
      await admin('POST', '/admin/webhooks/flush', { provider: processor });
      await eventually(
        'the processor delivered every webhook',
        async () => (await admin('GET', `/admin/webhooks?provider=${processor}`)) as { idle: boolean },
        (state) => state.idle,
      );
      await eventually(
        'every webhook applied',
        async () =>
          (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM provider_events WHERE processed_at IS NULL'))
            .rows[0]!.n,
        (n) => n === 0,
      );
    },
    /** The subjects of every `type` event, as often as each was recorded (`GET /v1/events`). */
    async eventSubjects(type: string): Promise<string[]> {
      const subjects: string[] = [];
      for (let after = ''; ; ) {
        const page = (await (
          await fetch(`${url}/v1/events?type=${type}&limit=100${after ? `&after=${after}` : ''}`, { headers })
        ).json()) as { data: { id: string; subject_id: string }[]; next_cursor: string | null };
        subjects.push(...page.data.map((event) => event.subject_id));
        if (!page.next_cursor) return subjects;
        after = page.next_cursor;
      }
    },
    /** The Rampart payment ids the processor did work for, checked to be one request each. */
    async processorBooks(processor: Processor): Promise<Set<string>> {
      const { requests } = (await admin('GET', `/admin/requests?provider=${processor}`)) as {
        requests: { method: string; idempotency_key: string | null; created_id: string | null; replayed: boolean }[];
      };
      const worked = requests.filter((r) => r.method === 'POST' && r.created_id !== null && !r.replayed);
      const ids = new Set(worked.map((r) => r.idempotency_key!));
      assert.equal(ids.size, worked.length, 'no payment sent to the processor twice');
      return ids;
    },
    async balance(user: string): Promise<{ posted: bigint; held: bigint }> {
      const balances = (await (await fetch(`${url}/v1/users/${user}/balances`, { headers })).json()) as {
        data: { currency: string; posted_minor: string; held_minor: string }[];
      };
      const usd = balances.data.find((b) => b.currency === 'USD')!;
      return { posted: BigInt(usd.posted_minor), held: BigInt(usd.held_minor) };
    },
    /** What users hold, the processors' clearing accounts owe: the ledger sums to zero. */
    async assertLedgerBalances(): Promise<void> {
      const { rows } = await db.query<{ total: string }>(
        "SELECT sum(posted)::text AS total FROM ledger_accounts WHERE currency = 'USD'",
      );
      assert.equal(rows[0]!.total, '0');
    },
  };
}

/**
 * Every request answered 201 naming its own payment, one payment per request, each
 * `completed` and announced so once (`payment.completed`), whatever reached Rampart twice.
 */
async function assertAllCompleted(
  requests: Request[],
  payments: PaymentView[],
  processed: Set<string>,
  completedEvents: string[],
) {
  for (const request of requests) assert.equal(request.answer?.status, 201, JSON.stringify(request.answer));
  assert.equal(payments.length, requests.length, 'one payment per key');
  assert.deepEqual(new Set(payments.map((p) => p.id)), processed, 'each sent to the processor exactly once');
  assert.deepEqual(new Set(requests.map((r) => r.answer!.body.id)), processed, 'each answer names its payment');
  for (const payment of payments) assert.equal(payment.status, 'completed', payment.id);
  const announced = completedEvents.filter((id) => processed.has(id));
  assert.equal(announced.length, processed.size, 'one payment.completed event per payment');
  assert.deepEqual(new Set(announced), processed);
}

const users = Array.from({ length: USERS }, (_, i) => `user-${i}`);

/** 60 card deposits of 30 users through a crash: each ends charged once, completed, credited once. */
async function depositsThroughACrash(options: { survivor?: boolean }) {
  const r = await rig({ providers: { deposit: [{ provider: 'simcard', blocked_jurisdictions: [] }] } }, options);
  const deposits: Request[] = Array.from({ length: 2 * USERS }, (_, i) => ({
    key: `deposit-${i}`,
    // Whole dollars: no magic cents (declines, faults).
    body: {
      user_id: users[i % USERS]!,
      kind: 'deposit',
      method: 'card',
      amount: `${10 + i}.00`,
      currency: 'USD',
      instrument: CARD_OK,
    },
  }));
  const { server, unsent } = await r.crashAmid('cards', deposits);
  await r.retryUnanswered(deposits);
  await r.assertResumed(unsent);
  // The retries finished every deposit: none waits on a webhook or reconciliation.
  for (const deposit of deposits)
    assert.equal(deposit.answer?.body.status, 'completed', JSON.stringify(deposit.answer));
  await r.deliverWebhooks('cards');

  await assertAllCompleted(
    deposits,
    await r.list(),
    await r.processorBooks('cards'),
    await r.eventSubjects('payment.completed'),
  );
  for (const user of users) {
    const expected = deposits
      .filter((d) => d.body.user_id === user)
      .reduce((sum, d) => sum + BigInt(Number(d.body.amount) * 100), 0n);
    assert.equal((await r.balance(user)).posted, expected, `${user} credited once per deposit`);
  }
  await r.assertLedgerBalances();
  server.child.kill('SIGTERM');
  assert.equal(await server.exited, 0, 'clean stop');
}

test(
  'kill -9 amid card deposits: after restart and retries, each deposit is charged once, completed and credited once',
  {
    timeout: 120_000,
  },
  () => depositsThroughACrash({}),
);

test(
  'two servers on one database, one killed amid card deposits: the other finishes every one, each charged once',
  {
    timeout: 120_000,
  },
  () => depositsThroughACrash({ survivor: true }),
);

/** A 40.00 USD withdrawal of `user` to a bank account, sent with `key`. */
const bankWithdrawal = (user: string, key: string): Request => ({
  key,
  body: {
    user_id: user,
    kind: 'withdrawal',
    method: 'bank',
    amount: '40.00',
    currency: 'USD',
    instrument: BANK_ACCOUNT,
  },
});

/**
 * The rig for bank withdrawals, with the operator's approval endpoint answering as
 * `answer` says for each payment asked about (`limits` as settings add them).
 */
async function withdrawalRig(answer: (paymentId: string) => { status: number; body: string }, extra = {}) {
  const approver = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const { status, body: answered } = answer((JSON.parse(body) as { payment_id: string }).payment_id);
      res.writeHead(status, { 'content-type': 'application/json' }).end(answered);
    });
  });
  approver.listen(0, '127.0.0.1');
  await once(approver, 'listening');
  after(() => approver.close());
  return rig({
    providers: {
      deposit: [{ provider: 'simcard', blocked_jurisdictions: [] }],
      withdrawal: [{ provider: 'simbank', blocked_jurisdictions: [] }],
    },
    approval: {
      url: `http://127.0.0.1:${(approver.address() as AddressInfo).port}/approve`,
      timeout_ms: 2_000,
      retries: 0,
      on_no_answer: 'decline',
    },
    ...extra,
  });
}

test('kill -9 amid approved bank withdrawals: after restart and retries, each is paid out once and debited once', {
  timeout: 120_000,
}, async () => {
  // The operator approves every withdrawal, and counts how often it was asked.
  const asked = new Map<string, number>();
  const r = await withdrawalRig(
    (id) => {
      asked.set(id, (asked.get(id) ?? 0) + 1);
      return { status: 200, body: '{"approved":true}' };
    },
    // Exactly one withdrawal a day: a retry that counted its own payment against the limit would be refused.
    { limits: { withdrawal: { USD: { min: '1.00', max: '1000.00', daily: '40.00' } } } },
  );
  for (const user of users) {
    const funded = await r.send({
      key: `fund-${user}`,
      body: { user_id: user, kind: 'deposit', method: 'card', amount: '100.00', currency: 'USD', instrument: CARD_OK },
    });
    assert.equal(funded?.body.status, 'completed');
  }
  const withdrawals: Request[] = users.map((user) => bankWithdrawal(user, `withdraw-${user}`));
  const { server, unsent } = await r.crashAmid('bank', withdrawals);
  await r.retryUnanswered(withdrawals);
  await r.assertResumed(unsent);
  await r.deliverWebhooks('bank');
  const payments = await eventually(
    'every withdrawal settled',
    async () => (await r.list()).filter((p) => p.kind === 'withdrawal'),
    (all) => all.length === USERS && all.every((p) => p.status === 'completed'),
  );

  await assertAllCompleted(
    withdrawals,
    payments,
    await r.processorBooks('bank'),
    await r.eventSubjects('payment.completed'),
  );
  for (const payment of payments)
    assert.ok((asked.get(payment.id) ?? 0) >= 1, `${payment.id} was approved before it was paid`);
  for (const user of users) {
    assert.deepEqual(await r.balance(user), { posted: 6_000n, held: 0n }, `${user} debited once, nothing left held`);
  }
  await r.assertLedgerBalances();
  server.child.kill('SIGTERM');
  assert.equal(await server.exited, 0, 'clean stop');
});

test('kill -9 while an approval after review is at the bank: a retry with its key sends it on, paid out once', {
  timeout: 120_000,
}, async () => {
  // The operator takes every withdrawal for review (202), and approves it later by hand.
  const r = await withdrawalRig(() => ({ status: 202, body: '{}' }));
  const user = 'reviewed-crash';
  const funded = await r.send({
    key: 'fund-reviewed',
    body: { user_id: user, kind: 'deposit', method: 'card', amount: '100.00', currency: 'USD', instrument: CARD_OK },
  });
  assert.equal(funded?.body.status, 'completed');
  const held = await r.send(bankWithdrawal(user, 'withdraw-reviewed'));
  assert.equal(held?.body.status, 'created', 'held for review');
  const id = held!.body.id!;
  // The bank holds the payout request unworked: the approval is at the bank when the server dies.
  await r.admin('POST', '/admin/faults', { provider: 'bank', kind: 'timeout', hold_ms: 5_000, count: 1 });
  const approving = r.post(`/v1/payments/${id}/approve`, 'approve-reviewed');
  await eventually(
    'the approval sent on to the bank',
    async () => (await r.admin('GET', '/admin/requests?provider=bank')) as { requests: { method: string }[] },
    (log) => log.requests.some((request) => request.method === 'POST'),
  );
  const server = await r.killAndRestart();
  assert.equal(await approving, undefined, 'the approval died unanswered');

  let answer: Answer | undefined;
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
    answer = await r.post(`/v1/payments/${id}/approve`, 'approve-reviewed');
    if (answer?.status !== 409) break;
    assert.equal(answer.body.error?.code, 'idempotency_in_progress', JSON.stringify(answer.body));
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.equal(answer?.status, 200, JSON.stringify(answer?.body));
  await r.deliverWebhooks('bank');
  await eventually(
    'the withdrawal paid out',
    async () => (await r.list()).find((p) => p.id === id)!.status,
    (status) => status === 'completed',
  );
  assert.deepEqual([...(await r.processorBooks('bank'))], [id], 'paid out once, under its own key');
  assert.deepEqual(await r.balance(user), { posted: 6_000n, held: 0n }, 'debited once, nothing left held');
  const { rows } = await r.db.query('SELECT 1 FROM payment_reviews WHERE payment_id = $1', [id]);
  assert.equal(rows.length, 0, 'the sealed destination is gone once the bank has it');
  await r.assertLedgerBalances();
  server.child.kill('SIGTERM');
  assert.equal(await server.exited, 0, 'clean stop');
});
