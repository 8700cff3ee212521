import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createIdGenerator, EventLog, eventSchemas, eventTypes, systemClock } from '@rampart/core';
import { createTestDatabase, errorOf, startTestApp } from './harness.ts';
import { widgetSession } from './widget-fixtures.ts';

type Schema = {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  enum?: unknown[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
};

/** The subset of JSON Schema the event schemas use; returns what does not conform. */
function problems(schema: Schema, value: unknown, path = 'data'): string[] {
  const types = schema.type === undefined ? [] : Array.isArray(schema.type) ? schema.type : [schema.type];
  const actual =
    value === null ? 'null' : Array.isArray(value) ? 'array' : Number.isInteger(value) ? 'integer' : typeof value;
  if (types.length > 0 && !types.includes(actual) && !(actual === 'integer' && types.includes('number')))
    return [`${path}: ${actual} is not ${types.join('|')}`];
  const found: string[] = [];
  if (schema.enum && !schema.enum.includes(value)) found.push(`${path}: ${String(value)} not in enum`);
  if (schema.pattern && typeof value === 'string' && !new RegExp(schema.pattern).test(value))
    found.push(`${path}: ${value} does not match ${schema.pattern}`);
  if (actual === 'object') {
    const object = value as Record<string, unknown>;
    for (const key of schema.required ?? []) if (!(key in object)) found.push(`${path}.${key}: missing`);
    for (const [key, sub] of Object.entries(schema.properties ?? {}))
      if (key in object) found.push(...problems(sub, object[key], `${path}.${key}`));
  }
  return found;
}

describe('events API', async () => {
  const t = await startTestApp();
  const log = new EventLog(t.db, createIdGenerator(), systemClock);
  const record = (type: 'payment.created' | 'payment.completed' | 'session.created', subjectId: string) =>
    t.db.transaction((tx) =>
      log.record(tx, { operatorId: t.operatorId, type, subjectId, data: { payment_id: subjectId, amount: 1250 } }),
    );
  const get = (url: string, headers = t.auth) => t.app.inject({ method: 'GET', url, headers });

  const created = await record('payment.created', 'pay_ev_1');
  const completed = await record('payment.completed', 'pay_ev_1');
  const session = await record('session.created', 'ses_ev_1');

  test('an event reads as it is delivered: type, api_version, subject, sequence, data', async () => {
    const response = await get(`/v1/events/${completed.id}`);
    assert.equal(response.statusCode, 200);
    assert.deepEqual(response.json(), {
      id: completed.id,
      object: 'event',
      type: 'payment.completed',
      api_version: completed.api_version,
      subject_id: 'pay_ev_1',
      sequence: 2,
      data: { payment_id: 'pay_ev_1', amount: 1250 },
      created_at: completed.created_at.toISOString(),
    });
  });

  test('the list pages with a cursor, oldest first, and filters by type and subject', async () => {
    const first = (await get('/v1/events?limit=2')).json();
    assert.deepEqual(
      first.data.map((e: { id: string }) => e.id),
      [created.id, completed.id],
    );
    assert.equal(first.next_cursor, completed.id);
    const second = (await get(`/v1/events?limit=2&after=${first.next_cursor}`)).json();
    assert.deepEqual(
      second.data.map((e: { id: string }) => e.id),
      [session.id],
    );
    assert.equal(second.next_cursor, null);
    const byType = (await get('/v1/events?type=payment.completed')).json();
    assert.deepEqual(
      byType.data.map((e: { id: string }) => e.id),
      [completed.id],
    );
    const bySubject = (await get('/v1/events?subject_id=pay_ev_1')).json();
    assert.deepEqual(
      bySubject.data.map((e: { sequence: number }) => e.sequence),
      [1, 2],
    );
  });

  test('a reader polling with its cursor never misses an event whose transaction commits after a later one', async () => {
    const drain = async (after: string) => {
      const ids: string[] = [];
      for (let cursor = after; ; ) {
        const page = (await get(`/v1/events?limit=100&after=${cursor}`)).json();
        ids.push(...page.data.map((e: { id: string }) => e.id));
        if (page.data.length > 0) cursor = page.data.at(-1).id;
        if (!page.next_cursor) return { ids, cursor };
      }
    };
    // A transaction records its event first, and is still open when another records and commits a later one.
    let commit!: () => void;
    const open = new Promise<void>((resolve) => (commit = resolve));
    let early = '';
    const slow = t.db.transaction(async (tx) => {
      early = (
        await log.record(tx, { operatorId: t.operatorId, type: 'payment.created', subjectId: 'pay_slow', data: {} })
      ).id;
      await open;
    });
    let late: Awaited<ReturnType<typeof record>>;
    let before: Awaited<ReturnType<typeof drain>>;
    try {
      while (!early) await new Promise((resolve) => setTimeout(resolve, 5));
      late = await record('payment.created', 'pay_fast');
      assert.ok(early < late.id, 'the open transaction’s event has the earlier id');
      before = await drain(session.id);
      assert.ok(!before.ids.includes(late.id), 'not listed while an older transaction may still commit before it');
    } finally {
      commit();
      await slow;
    }
    const after = await drain(before.cursor);
    assert.deepEqual(
      [...before.ids, ...after.ids].filter((id) => id === early || id === late.id),
      [early, late.id],
    );
  });

  test('a write transaction still open in another database holds no event of this one back', async () => {
    const other = await createTestDatabase({ empty: true });
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let started = false;
    const writing = other.db.transaction(async (tx) => {
      await tx.query('SELECT pg_current_xact_id()'); // takes a transaction id, as a write does
      started = true;
      await held;
    });
    try {
      while (!started) await new Promise((resolve) => setTimeout(resolve, 5));
      const event = await record('payment.created', 'pay_beside_other_db');
      const page = (await get(`/v1/events?limit=100&after=${session.id}`)).json();
      assert.ok(
        page.data.some((e: { id: string }) => e.id === event.id),
        'listed at once: the open transaction is in another database',
      );
    } finally {
      release();
      await writing;
    }
  });

  test('an unknown type or a bad limit is a validation error; an unknown id is resource_not_found', async () => {
    assert.equal(errorOf(await get('/v1/events?type=payment.teleported')).code, 'validation_error');
    assert.equal(errorOf(await get('/v1/events?limit=0')).code, 'validation_error');
    assert.equal(errorOf(await get('/v1/events?limit=500')).code, 'validation_error');
    const missing = await get('/v1/events/evt_nope');
    assert.equal(missing.statusCode, 404);
    assert.equal(errorOf(missing).code, 'resource_not_found');
  });

  test('another operator sees none of these events and gets 404 for their ids', async () => {
    const other = await t.operators.create({ name: 'Other Operator' });
    const theirs = { authorization: `Bearer ${other.key.secret}` };
    assert.deepEqual((await get('/v1/events', theirs)).json().data, []);
    assert.equal(errorOf(await get(`/v1/events/${created.id}`, theirs)).code, 'resource_not_found');
  });

  test('the OpenAPI document describes every event type under webhooks, with its data schema', async () => {
    const document = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    assert.deepEqual(Object.keys(document.webhooks).sort(), Object.keys(eventTypes).sort());
    const completedHook = document.webhooks['payment.completed'].post;
    const schema = completedHook.requestBody.content['application/json'].schema;
    assert.equal(schema.properties.type.const, 'payment.completed');
    assert.deepEqual(schema.properties.data, eventSchemas['payment.completed']);
    assert.deepEqual(
      completedHook.parameters.map((p: { name: string }) => p.name),
      ['webhook-id', 'webhook-timestamp', 'webhook-signature'],
    );
    for (const path of [
      '/v1/events',
      '/v1/events/{id}',
      '/v1/events/{id}/redeliver',
      '/v1/webhook_endpoints',
      '/v1/webhook_endpoints/{id}',
      '/v1/webhook_endpoints/{id}/rotate_secret',
      '/v1/webhook_endpoints/{id}/test',
      '/v1/webhook_endpoints/{id}/deliveries',
      '/v1/webhook_endpoints/{id}/replay',
      '/v1/deliveries/{id}',
    ])
      assert.ok(document.paths[path], path);
  });

  test('events recorded by the domain conform to their published schemas', async () => {
    await widgetSession(t);
    const all = (await get('/v1/events?limit=100')).json().data as {
      type: string;
      subject_id: string;
      data: unknown;
    }[];
    // Not the hand-made fixtures above: what the sessions module itself recorded.
    const recordedByDomain = all.filter((e) => e.type.startsWith('session.') && e.subject_id !== session.subject_id);
    assert.ok(recordedByDomain.length >= 2, 'session.created and session.exchanged');
    for (const event of recordedByDomain)
      assert.deepEqual(
        problems(eventSchemas[event.type as keyof typeof eventSchemas] as Schema, event.data),
        [],
        event.type,
      );
  });

  test('every event type has a data schema', () => {
    for (const type of Object.keys(eventTypes)) {
      const schema = eventSchemas[type as keyof typeof eventSchemas];
      assert.equal(schema?.['type'], 'object', type);
    }
  });
});
