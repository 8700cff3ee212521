/**
 * A Rampart server killed (SIGKILL) in the middle of concurrent card deposits, with the
 * card processor (the simulator, a process of its own) carrying on. Once a new server is
 * up and the clients have retried with their keys, every deposit is completed, the
 * processor charged each exactly once, and Rampart's books agree with its to the minor unit.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTestDatabase } from './harness.ts';
import { CARD_OK } from './payment-fixtures.ts';
import { freePort, launchServer, launchSimulator, serverReady } from './processes.ts';
import { eventually } from './webhooks-fixtures.ts';

const USERS = ['ada', 'ben', 'cy', 'di', 'ed', 'flo'];
const DEPOSITS = 60;
/** Card requests the processor holds and never works on: their payments are left `created` by the crash. */
const NEVER_WORKED = 5;

interface Answer {
  status: number;
  body: { id?: string; status?: string; error?: { code: string } };
}

interface Sent {
  key: string;
  user: string;
  amountMinor: bigint;
  /** The answer, before the crash or to a retry after it. */
  answer?: Answer;
}

interface PaymentView {
  id: string;
  status: string;
  user_id: string;
  amount_minor: string;
}

test('kill -9 amid card deposits: after restart and retries, each deposit is charged once, completed and credited once', {
  timeout: 120_000,
}, async () => {
  const { db, url: databaseUrl } = await createTestDatabase();
  const port = await freePort();
  const simulator = await launchSimulator({
    SIMULATOR_WEBHOOK_URL_CARDS: `http://127.0.0.1:${port}/v1/provider-webhooks/simcard`,
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
    PORT: String(port),
    RAMPART_SIMULATOR: 'true',
    RAMPART_SIMULATOR_URL: simulator.url,
    RAMPART_RATE_LIMIT_PER_MINUTE: '0',
    RAMPART_IDEMPOTENCY_LEASE_SECONDS: '3',
  };

  const first = launchServer(env);
  const { url, secret } = await serverReady(first);
  assert.ok(secret, 'fresh database: the demo key is printed');
  const headers = { authorization: `Bearer ${secret}`, 'content-type': 'application/json' };
  const configured = await fetch(`${url}/v1/operator/settings`, {
    method: 'PATCH',
    headers,
    body: JSON.stringify({
      required_gates: { terms: false, email: false, phone: false, kyc: 'none', geo: false },
      providers: { deposit: [{ provider: 'simcard', blocked_jurisdictions: [] }] },
    }),
  });
  assert.equal(configured.status, 200, await configured.text());

  // The processor holds the first few charges unworked past the crash, answers every
  // other 300 ms after making it, and holds every webhook (some sent twice) until told:
  // at the crash some payments were never charged, many were charged and unanswered, and
  // only the answers that arrived have told Rampart anything.
  await admin('POST', '/admin/faults', { provider: 'cards', kind: 'timeout', hold_ms: 5_000, count: NEVER_WORKED });
  await admin('POST', '/admin/faults', { provider: 'cards', kind: 'latency', ms: 300, phase: 'after' });
  await admin('POST', '/admin/faults', { provider: 'cards', kind: 'reorder_webhooks', batch: 100, hold_ms: 60_000 });
  await admin('POST', '/admin/faults', { provider: 'cards', kind: 'duplicate_webhooks', probability: 0.5 });

  const sent: Sent[] = Array.from({ length: DEPOSITS }, (_, i) => ({
    key: `crash-${i}`,
    user: USERS[i % USERS.length]!,
    amountMinor: 1_000n + 100n * BigInt(i), // whole dollars: no magic cents (declines, faults)
  }));
  const send = async (deposit: Sent): Promise<Answer | undefined> => {
    try {
      const response = await fetch(`${url}/v1/payments`, {
        method: 'POST',
        headers: { ...headers, 'idempotency-key': deposit.key },
        body: JSON.stringify({
          user_id: deposit.user,
          kind: 'deposit',
          method: 'card',
          amount: (Number(deposit.amountMinor) / 100).toFixed(2),
          currency: 'USD',
          instrument: CARD_OK,
        }),
      });
      return { status: response.status, body: (await response.json()) as Answer['body'] };
    } catch {
      return undefined; // the server died with this request open: the client has no answer
    }
  };
  const inFlight = sent.map(async (deposit, i) => {
    await new Promise((r) => setTimeout(r, i * 12)); // spread over ~700 ms: the crash lands mid-stream
    const answer = await send(deposit);
    if (answer) deposit.answer = answer;
  });
  await eventually(
    'some deposits answered',
    () => sent.filter((d) => d.answer).length,
    (n) => n >= 5,
  );
  first.child.kill('SIGKILL');
  await first.exited;
  await Promise.all(inFlight);
  const answeredBefore = sent.filter((d) => d.answer).length;

  const second = launchServer(env);
  await serverReady(second);
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
  const leftCreated = (await list()).filter((p) => p.status === 'created').length;
  assert.ok(leftCreated >= NEVER_WORKED, `the crash left payments created and unanswered (${leftCreated})`);
  assert.ok(answeredBefore < DEPOSITS, 'the crash caught deposits mid-request');

  // Clients retry what went unanswered, with the same keys, until answered. A key the dead
  // server held is busy (409) until its lease lapses; then the retry finishes that payment.
  let busy = 0;
  await Promise.all(
    sent
      .filter((d) => !d.answer)
      .map(async (deposit) => {
        for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
          const answer = await send(deposit);
          assert.ok(answer, 'the restarted server answers');
          if (answer.status !== 409) {
            deposit.answer = answer;
            return;
          }
          assert.equal(answer.body.error?.code, 'idempotency_in_progress');
          busy++;
          await new Promise((r) => setTimeout(r, 250));
        }
        assert.fail(`${deposit.key} still busy`);
      }),
  );
  assert.ok(busy > 0, 'retries met keys the dead server held');
  for (const deposit of sent) {
    assert.equal(deposit.answer?.status, 201, JSON.stringify(deposit.answer));
    assert.equal(deposit.answer.body.status, 'completed', `${deposit.key}: ${JSON.stringify(deposit.answer)}`);
  }

  // Now the processor's webhooks, late, some twice, newest first: they change nothing.
  await admin('POST', '/admin/webhooks/flush', { provider: 'cards' });
  await eventually(
    'the processor delivered every webhook',
    async () => (await admin('GET', '/admin/webhooks?provider=cards')) as { idle: boolean },
    (state) => state.idle,
  );
  await eventually(
    'every webhook applied',
    async () =>
      (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM provider_events WHERE processed_at IS NULL'))
        .rows[0]!.n,
    (n) => n === 0,
  );

  // The processor's books: each payment charged once, by Rampart's id (its idempotency key there).
  const { requests } = (await admin('GET', '/admin/requests?provider=cards')) as {
    requests: { method: string; idempotency_key: string | null; created_id: string | null; replayed: boolean }[];
  };
  const charges = requests.filter((r) => r.method === 'POST' && r.created_id !== null && !r.replayed);
  const charged = new Set(charges.map((r) => r.idempotency_key!));
  assert.equal(charges.length, DEPOSITS, 'one charge per deposit');
  assert.equal(charged.size, DEPOSITS, 'no payment charged twice');

  // Rampart's books: one payment per key, each the one its answer named, all completed.
  const payments = await list();
  assert.equal(payments.length, DEPOSITS);
  assert.deepEqual(new Set(payments.map((p) => p.id)), charged);
  assert.deepEqual(new Set(sent.map((d) => d.answer!.body.id)), charged);
  for (const payment of payments) assert.equal(payment.status, 'completed', payment.id);

  // Each user's balance is exactly the sum of their deposits: credited once each.
  for (const user of USERS) {
    const expected = sent.filter((d) => d.user === user).reduce((sum, d) => sum + d.amountMinor, 0n);
    const balances = (await (await fetch(`${url}/v1/users/${user}/balances`, { headers })).json()) as {
      data: { currency: string; posted_minor: string }[];
    };
    assert.equal(BigInt(balances.data.find((b) => b.currency === 'USD')!.posted_minor), expected, `${user}'s balance`);
  }
  // The ledger balances to zero: what users hold, the processor's clearing accounts owe.
  const { rows } = await db.query<{ total: string }>(
    "SELECT sum(posted)::text AS total FROM ledger_accounts WHERE currency = 'USD'",
  );
  assert.equal(rows[0]!.total, '0');

  second.child.kill('SIGTERM');
  assert.equal(await second.exited, 0, 'clean stop');
});
