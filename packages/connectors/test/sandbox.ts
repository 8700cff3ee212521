/**
 * What connector tests stand on: the simulator on an ephemeral port of 127.0.0.1, a
 * local receiver its webhooks are delivered to, and end users in a test database.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after } from 'node:test';
import { type Clock, createIdGenerator, type Database, type EndUser, Operators, systemClock } from '@rampart/core';
import {
  DEFAULT_WEBHOOK_SECRETS,
  type Provider,
  type RunningSimulator,
  type SimulatorOptions,
  startSimulator,
} from '../../simulator/src/index.ts';
import type { ConnectorOptions } from '../src/connector.ts';

export interface Delivery {
  provider: string;
  headers: IncomingHttpHeaders;
  raw: string;
}

/** Receives webhooks on `/<provider>` and keeps them, answering 200. */
export class WebhookReceiver {
  readonly deliveries: Delivery[] = [];
  url = '';
  readonly #server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      this.deliveries.push({
        provider: (request.url ?? '/').slice(1),
        headers: request.headers,
        raw: Buffer.concat(chunks).toString(),
      });
      response.writeHead(200).end('ok');
    });
  });

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  of(provider: Provider): Delivery[] {
    return this.deliveries.filter((d) => d.provider === provider);
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

export interface Sandbox {
  sim: RunningSimulator;
  receiver: WebhookReceiver;
  /** Connector options for one of the simulator's providers. */
  options(provider: Provider, extra?: Partial<ConnectorOptions>): ConnectorOptions;
  /** Waits until every webhook the simulator emitted has been delivered. */
  webhooksDelivered(): Promise<void>;
}

/**
 * A simulator for one test file, closed when the file ends. Nothing settles on its own
 * (an hour of simulated time away) unless the test moves the clock.
 */
export async function startSandbox(options: SimulatorOptions = {}): Promise<Sandbox> {
  const receiver = await new WebhookReceiver().start();
  const errors: unknown[] = [];
  const sim = await startSimulator({
    port: 0,
    host: '127.0.0.1',
    settleDelayMs: 3_600_000,
    blockIntervalMs: 60_000,
    webhookRetryDelaysMs: [5, 10, 20, 40],
    tickMs: 5,
    webhookTargets: {
      bank: `${receiver.url}/bank`,
      cards: `${receiver.url}/cards`,
      crypto: `${receiver.url}/crypto`,
      kyc: `${receiver.url}/kyc`,
    },
    onError: (error) => errors.push(error),
    ...options,
  });
  after(async () => {
    await sim.close();
    await receiver.close();
    if (errors.length > 0) throw new AggregateError(errors, 'the simulator reported unexpected errors');
  });
  return {
    sim,
    receiver,
    options: (provider, extra = {}) => ({
      baseUrl: () => sim.url,
      apiKey: `sk_test_${provider}`,
      webhookSecret: DEFAULT_WEBHOOK_SECRETS[provider],
      clock: systemClock,
      ...extra,
    }),
    webhooksDelivered: () => eventually(() => sim.admin.webhooksIdle()).then(() => undefined),
  };
}

/** Polls until `check` returns a value (not undefined/false), or fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export interface People {
  operatorId: string;
  /** An end user of the operator, created in the database (deposit addresses refer to users). */
  user(id: string, profile?: Partial<EndUser>): Promise<EndUser>;
}

/** An operator and a way to add end users, in `db`. */
export async function seedOperator(db: Database, clock: Clock = systemClock): Promise<People> {
  const { operator } = await new Operators(db, createIdGenerator(), clock).create({ name: 'Connector tests' });
  return {
    operatorId: operator.id,
    async user(id, profile = {}) {
      const now = clock.now();
      const user: EndUser = {
        operator_id: operator.id,
        id,
        email: null,
        email_verified_at: null,
        phone: null,
        phone_verified_at: null,
        first_name: 'Ada',
        last_name: 'Lovelace',
        country: 'GB',
        state: null,
        date_of_birth: '1990-12-10',
        kyc_status: 'not_started',
        kyc_reason: null,
        kyc_provider: null,
        kyc_applicant_id: null,
        kyc_attested: false,
        kyc_updated_at: null,
        terms_version: null,
        terms_accepted_at: null,
        blocked_at: null,
        blocked_reason: null,
        created_at: now,
        updated_at: now,
        ...profile,
      };
      await db.query(
        `INSERT INTO end_users (operator_id, id, email, first_name, last_name, country, date_of_birth, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT DO NOTHING`,
        [operator.id, id, user.email, user.first_name, user.last_name, user.country, user.date_of_birth, now],
      );
      return user;
    },
  };
}
