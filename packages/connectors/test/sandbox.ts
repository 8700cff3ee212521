import assert from 'node:assert/strict';
import { type Clock, createIdGenerator, type Database, type EndUser, Operators, systemClock } from '@rampart/core';
import { isRampartError, type RampartError } from '@rampart/errors';
import {
  DEFAULT_WEBHOOK_SECRETS,
  type Provider,
  type RunningSimulator,
  type SimulatorOptions,
} from '../../simulator/src/index.ts';
import {
  eventually,
  type ReceivedWebhook,
  startTestSimulator,
  type WebhookReceiver,
} from '../../simulator/test/harness.ts';

export { eventually };

/** The catalog error `work` throws at once; fails the test if it throws none, or another error. */
export function thrownBy(work: () => unknown): RampartError {
  try {
    work();
  } catch (error) {
    if (isRampartError(error)) return error;
    throw error;
  }
  assert.fail('expected a RampartError');
}

import type { ConnectorOptions } from '../src/connector.ts';

/** A webhook the sandbox receiver got (path `/bank`, `/cards`, …). */
export type Delivery = ReceivedWebhook;

export interface Sandbox {
  sim: RunningSimulator;
  receiver: WebhookReceiver;
  /** Webhooks of one provider the receiver accepted, oldest first. */
  deliveries(provider: Provider): Delivery[];
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
  const { sim, receiver } = await startTestSimulator({ port: 0, host: '127.0.0.1', ...options });
  return {
    sim,
    receiver,
    deliveries: (provider) => receiver.accepted(`/${provider}`),
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
        kyc_verdict_at: null,
        terms_version: null,
        terms_accepted_at: null,
        blocked_at: null,
        blocked_reason: null,
        limits: {},
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
