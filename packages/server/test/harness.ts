/**
 * What server tests stand on: a database of their own cloned from the migrated
 * template, an app wired like production, and an operator with a key.
 */
import { PassThrough } from 'node:stream';
import { after } from 'node:test';
import { type Clock, createIdGenerator, type Database, Operators, systemClock } from '@rampart/core';
import type { FastifyInstance } from 'fastify';
import { createTestDatabase } from '../../../scripts/test-database.ts';
import { startSimulator } from '../../simulator/src/index.ts';
import { buildApp, type Config, loadConfig } from '../src/index.ts';
import { SANDBOX_WEBHOOK_PATHS, sandboxDependencies, sandboxProviders } from '../src/providers.ts';

export { createTestDatabase, databaseUrl } from '../../../scripts/test-database.ts';

export interface TestApp {
  app: FastifyInstance;
  db: Database;
  operators: Operators;
  config: Config;
  /** JSON log lines the app wrote. */
  logs: string[];
  /** The tenant the harness (test) key acts as: what its calls read and write belongs to it. */
  operatorId: string;
  /** The operator's public id (its live tenant's). */
  accountId: string;
  secret: string;
  auth: { authorization: string };
  /** With `sandbox: true`: the simulator the connectors talk to, and where the app listens. */
  simulator?: Awaited<ReturnType<typeof startSimulator>>;
  url?: string;
}

export async function startTestApp(
  options: {
    env?: Record<string, string>;
    clock?: Clock;
    database?: Database;
    /** Extra routes registered before the app is ready (e.g. one that throws). */
    routes?: (app: FastifyInstance) => void;
    /** Start the simulator, wire the sandbox connectors, and listen on a port for its webhooks. */
    sandbox?:
      | boolean
      | {
          timeoutMs?: number;
          settleDelayMs?: number;
          breakerThreshold?: number;
          /** The sandbox serves live mode too, as no deployment does: for tests of live-mode payments. */
          live?: boolean;
        };
    approvals?: Parameters<typeof buildApp>[0]['approvals'];
  } = {},
): Promise<TestApp> {
  const db = options.database ?? (await createTestDatabase()).db;
  const config = loadConfig({ LOG_LEVEL: 'info', ...options.env });
  const logs: string[] = [];
  const logStream = new PassThrough();
  logStream.on('data', (chunk: Buffer) => logs.push(...chunk.toString().split('\n').filter(Boolean)));
  const clock = options.clock ?? systemClock;
  const ids = createIdGenerator();
  let simulatorUrl = '';
  const sandboxOptions = typeof options.sandbox === 'object' ? options.sandbox : {};
  const sandbox = options.sandbox
    ? sandboxProviders({
        simulatorUrl: () => simulatorUrl,
        clock,
        db,
        ...(sandboxOptions.timeoutMs ? { timeoutMs: sandboxOptions.timeoutMs } : {}),
        ...(sandboxOptions.breakerThreshold ? { breakerThreshold: sandboxOptions.breakerThreshold } : {}),
      })
    : undefined;
  const app = await buildApp({
    config,
    db,
    clock,
    ids,
    logStream,
    ...(sandbox ? sandboxDependencies(sandbox, { live: sandboxOptions.live === true }) : {}),
    ...(options.approvals ? { approvals: options.approvals } : {}),
  });
  options.routes?.(app);
  await app.ready();
  after(() => app.close());
  let simulator: TestApp['simulator'];
  let url: string | undefined;
  if (sandbox) {
    url = await app.listen({ host: '127.0.0.1', port: 0 });
    simulator = await startSimulator({
      port: 0,
      settleDelayMs: sandboxOptions.settleDelayMs ?? 50,
      webhookRetryDelaysMs: [20, 50, 100, 200],
      webhookTargets: Object.fromEntries(
        Object.entries(SANDBOX_WEBHOOK_PATHS).map(([provider, id]) => [provider, `${url}/v1/provider-webhooks/${id}`]),
      ),
      onError: () => {},
    });
    simulatorUrl = simulator.url;
    after(() => simulator!.close());
  }
  const operators = new Operators(db, ids, clock);
  const { operator, key } = await operators.create({ name: 'Test Operator' });
  return {
    app,
    db,
    operators,
    config,
    logs,
    // The harness key is a test key: what it reaches belongs to the operator's test tenant.
    operatorId: key.key.operator_id,
    accountId: operator.id,
    secret: key.secret,
    auth: { authorization: `Bearer ${key.secret}` },
    ...(simulator ? { simulator } : {}),
    ...(url ? { url } : {}),
  };
}

/** Asserts the catalog envelope and returns its `error` object for further checks. */
export function errorOf(response: { statusCode: number; headers: Record<string, unknown>; body: string }): {
  code: string;
  message: string;
  type: string;
  retryable: boolean;
  details: Record<string, unknown>;
  request_id: string;
  doc_url: string;
} {
  const body = JSON.parse(response.body) as { error?: ReturnType<typeof errorOf> };
  if (!body.error || typeof body.error.code !== 'string') throw new Error(`not an error envelope: ${response.body}`);
  // A replayed answer is the first request's, byte for byte: it names that request, and
  // says so (`Original-Request-Id`); any other names the request it answers.
  const answering = response.headers['original-request-id'] ?? response.headers['x-request-id'];
  if (body.error.request_id !== answering)
    throw new Error('error.request_id differs from the request it answers (X-Request-Id, or Original-Request-Id)');
  return body.error;
}
