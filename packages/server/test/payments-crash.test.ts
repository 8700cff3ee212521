/**
 * A Rampart server killed (SIGKILL) in the middle of concurrent card deposits, with the
 * card processor (the simulator, a process of its own) carrying on: once a new server
 * is up, the processor's books and Rampart's agree, to the minor unit.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTestDatabase } from './harness.ts';
import { CARD_OK } from './payment-fixtures.ts';
import { freePort, launchServer, launchSimulator, serverReady } from './processes.ts';
import { eventually } from './webhooks-fixtures.ts';

const USERS = ['ada', 'ben', 'cy', 'di', 'ed', 'flo'];
const DEPOSITS = 60;

interface Answer {
  status: number;
  body: { id?: string; status?: string; error?: { code: string } };
}

interface Sent {
  key: string;
  user: string;
  amountMinor: bigint;
  /** The answer, when one came before the crash. */
  answer?: Answer;
}

test('kill -9 amid card deposits: after restart every charge the processor made is credited exactly once, and nothing else moved', {
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

  // The processor answers each charge 300 ms after making it, and holds every webhook
  // (some sent twice) until told: at the crash, charges are made and unanswered, and
  // only the answers that arrived have told Rampart anything.
  await admin('POST', '/admin/faults', { provider: 'cards', kind: 'latency', ms: 300, phase: 'after' });
  await admin('POST', '/admin/faults', { provider: 'cards', kind: 'reorder_webhooks', batch: 100, hold_ms: 60_000 });
  await admin('POST', '/admin/faults', { provider: 'cards', kind: 'duplicate_webhooks', probability: 0.5 });

  const sent: Sent[] = Array.from({ length: DEPOSITS }, (_, i) => ({
    key: `crash-${i}`,
    user: USERS[i % USERS.length]!,
    amountMinor: 1_000n + 100n * BigInt(i), // whole dollars: no magic cents (declines, faults)
  }));
  const send = async (deposit: Sent, to: string): Promise<Answer | undefined> => {
    try {
      const response = await fetch(`${to}/v1/payments`, {
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
    const answer = await send(deposit, url);
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

  const second = launchServer(env);
  await serverReady(second);
  // Clients retry what went unanswered, with the same keys. A request the dead server had
  // taken is still its own (409, retry later); one it never saw is made now.
  const unanswered = sent.filter((d) => !d.answer);
  assert.ok(unanswered.length > 0, 'the crash caught deposits mid-request');
  const retried = await Promise.all(unanswered.map((deposit) => send(deposit, url)));
  for (const [i, answer] of retried.entries()) {
    assert.ok(answer, 'the restarted server answers');
    if (answer.status === 201) unanswered[i]!.answer = answer;
    else assert.equal(answer.body.error?.code, 'idempotency_in_progress');
  }
  await admin('POST', '/admin/webhooks/flush', { provider: 'cards' });
  await eventually(
    'the processor delivered every webhook',
    async () => (await admin('GET', '/admin/webhooks?provider=cards')) as { idle: boolean },
    (state) => state.idle,
  );

  // The processor's books: every charge, by Rampart's payment id (its idempotency key there).
  const { requests } = (await admin('GET', '/admin/requests?provider=cards')) as {
    requests: { method: string; idempotency_key: string | null; created_id: string | null; replayed: boolean }[];
  };
  const charges = requests.filter((r) => r.method === 'POST' && r.created_id !== null && !r.replayed);
  const charged = new Set(charges.map((r) => r.idempotency_key!));
  assert.equal(charged.size, charges.length, 'no payment was charged twice');

  // Rampart's books, through its API, once every charge's webhook has been applied.
  const list = async () => {
    const all: { id: string; status: string; user_id: string; amount_minor: string }[] = [];
    for (let cursor = ''; ; ) {
      const page = (await (
        await fetch(`${url}/v1/payments?limit=100${cursor ? `&starting_after=${cursor}` : ''}`, { headers })
      ).json()) as { data: typeof all; next_cursor: string | null };
      all.push(...page.data);
      if (!page.next_cursor) return all;
      cursor = page.next_cursor;
    }
  };
  const payments = await eventually('every charge completed in Rampart', list, (all) =>
    [...charged].every((id) => all.find((p) => p.id === id)?.status === 'completed'),
  );

  const answered = sent.filter((d) => d.answer);
  assert.ok(
    payments.some((p) => charged.has(p.id) && !answered.some((d) => d.answer!.body.id === p.id)),
    'some charge was made whose answer never reached a client: only the webhook told Rampart',
  );
  // Nothing is charged that Rampart did not record first, and nothing is recorded twice.
  assert.ok(payments.length <= DEPOSITS, `${payments.length} payments for ${DEPOSITS} requests`);
  for (const id of charged)
    assert.ok(
      payments.some((p) => p.id === id),
      `charge for ${id} has its payment`,
    );
  for (const deposit of answered) {
    assert.equal(deposit.answer!.status, 201, JSON.stringify(deposit.answer));
    const payment = payments.find((p) => p.id === deposit.answer!.body.id);
    assert.equal(payment?.status, 'completed', 'an answered deposit stays what it was answered');
  }
  // A payment the processor never charged has moved no money: it is still `created`.
  for (const payment of payments.filter((p) => !charged.has(p.id))) assert.equal(payment.status, 'created');

  // Each user's balance is exactly the sum of their charges: credited once each.
  for (const user of USERS) {
    const expected = payments
      .filter((p) => p.user_id === user && charged.has(p.id))
      .reduce((sum, p) => sum + BigInt(p.amount_minor), 0n);
    const balances = (await (await fetch(`${url}/v1/users/${user}/balances`, { headers })).json()) as {
      data: { currency: string; posted_minor: string }[];
    };
    const usd = balances.data.find((b) => b.currency === 'USD');
    assert.equal(BigInt(usd?.posted_minor ?? '0'), expected, `${user}'s balance`);
  }
  // The ledger balances to zero: what users hold, the processor's clearing accounts owe.
  const { rows } = await db.query<{ total: string }>(
    "SELECT sum(posted)::text AS total FROM ledger_accounts WHERE currency = 'USD'",
  );
  assert.equal(rows[0]!.total, '0');

  second.child.kill('SIGTERM');
  assert.equal(await second.exited, 0, 'clean stop');
});
