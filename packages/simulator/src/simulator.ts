import Fastify, { type FastifyError } from 'fastify';
import { createAdmin, type SimulatorAdmin } from './admin/admin.ts';
import { registerAdminRoutes } from './admin/routes.ts';
import { createBankProvider } from './bank/routes.ts';
import { bankDialect } from './bank/wire.ts';
import { createCardsProvider } from './cards/routes.ts';
import { cardsDialect } from './cards/wire.ts';
import { type Clock, SimulatedClock, systemClock } from './clock.ts';
import type { ProviderContext, SimulatedProvider } from './context.ts';
import { createCryptoProvider } from './crypto/routes.ts';
import { cryptoDialect } from './crypto/wire.ts';
import { FaultBook } from './faults/fault-book.ts';
import { installFaultHook } from './faults/hook.ts';
import type { Dialect } from './http/dialect.ts';
import { IdempotencyStore } from './http/idempotency.ts';
import { RequestLog } from './http/request-log.ts';
import { createIdGenerator } from './ids.ts';
import { createKycProvider } from './kyc/routes.ts';
import { kycDialect } from './kyc/wire.ts';
import { PROVIDERS, type Provider, providerOfPath } from './providers.ts';
import { Timeline } from './timeline.ts';
import { WebhookOutbox } from './webhooks/outbox.ts';

export interface SimulatorOptions {
  /** 0 (default): any free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Base URL put in hosted-page links (redirect_url, verificationUrl …); default the listening URL. */
  publicUrl?: string;
  /** Where each provider POSTs its webhooks; a provider without a target records events as `no_target`. */
  webhookTargets?: Partial<Record<Provider, string>>;
  /** Webhook signing secrets; defaults in DEFAULT_WEBHOOK_SECRETS. */
  secrets?: Partial<Record<Provider, string>>;
  /** Base clock (Rampart's `Clock` fits); admin time travel adds an offset to it. */
  clock?: Clock;
  /** Simulated ms from acceptance to settlement, payout, review or re-verification. Default 2000. */
  settleDelayMs?: number;
  /** Simulated ms between blocks on every chain. Default 1000. */
  blockIntervalMs?: number;
  /** Delays before webhook retries; attempts = length + 1. Default [250, 1000, 5000, 15000]. */
  webhookRetryDelaysMs?: number[];
  /** How long one webhook attempt may take. Default 5000 ms. */
  webhookTimeoutMs?: number;
  /** How often due timeline work runs in real time. Default 25 ms. */
  tickMs?: number;
  /** Randomness for probabilistic faults. Default Math.random. */
  random?: () => number;
  /** Unexpected errors (bugs); default console.error. */
  onError?: (error: unknown) => void;
}

export const DEFAULT_WEBHOOK_SECRETS: Record<Provider, string> = {
  bank: 'whsec_sim_bank',
  cards: 'whsec_sim_cards',
  crypto: 'whsec_sim_crypto',
  kyc: 'whsec_sim_kyc',
};

export interface RunningSimulator {
  /** e.g. http://127.0.0.1:41234 */
  url: string;
  port: number;
  admin: SimulatorAdmin;
  close(): Promise<void>;
}

const DIALECTS: Record<Provider, Dialect> = {
  bank: bankDialect,
  cards: cardsDialect,
  crypto: cryptoDialect,
  kyc: kycDialect,
};

const MAX_SIGHTINGS = 100_000;

function positive(name: string, value: number | undefined, fallback: number): number {
  const result = value ?? fallback;
  if (!Number.isFinite(result) || result < 0) throw new RangeError(`${name} must be a non-negative number`);
  return result;
}

/** Starts the simulator on its own port; tests and `npm start` run it in-process. */
export async function startSimulator(options: SimulatorOptions = {}): Promise<RunningSimulator> {
  const onError = options.onError ?? ((error: unknown) => console.error('simulator:', error));
  const clock = new SimulatedClock(options.clock ?? systemClock);
  const timeline = new Timeline(clock, onError);
  const newId = createIdGenerator();
  const targets = new Map<Provider, string>();
  for (const provider of PROVIDERS) {
    const target = options.webhookTargets?.[provider];
    if (target) targets.set(provider, target);
  }
  const secrets = { ...DEFAULT_WEBHOOK_SECRETS, ...options.secrets };
  const faults = new FaultBook({
    random: options.random ?? Math.random,
    nowMs: () => clock.nowMs(),
    newId: () => newId('flt'),
  });
  const outbox = new WebhookOutbox({
    secrets,
    targets,
    retryDelaysMs: options.webhookRetryDelaysMs ?? [250, 1000, 5000, 15000],
    attemptTimeoutMs: positive('webhookTimeoutMs', options.webhookTimeoutMs, 5000),
    faults,
    wallMs: () => clock.wallMs(),
    simulatedIso: () => clock.now().toISOString(),
    newId: () => newId('dlv'),
    onError,
  });
  const log = new RequestLog();
  const idempotency = new IdempotencyStore();
  const closing = new AbortController();
  const sightings = new Set<string>();

  const app = Fastify({ logger: false, forceCloseConnections: true, bodyLimit: 1024 * 1024 });
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  const faultAfterWork = installFaultHook(app, {
    book: faults,
    log,
    clock,
    dialects: DIALECTS,
    closing: closing.signal,
  });

  let publicUrl = options.publicUrl?.replace(/\/$/, '') ?? '';
  const context: ProviderContext = {
    clock,
    timeline,
    newId,
    kit: { idempotency, log, faultAfterWork, onError },
    publicUrl: () => publicUrl,
    settleDelayMs: positive('settleDelayMs', options.settleDelayMs, 2000),
    blockIntervalMs: positive('blockIntervalMs', options.blockIntervalMs, 1000),
    publish: (provider, event) => outbox.publish(provider, event),
    firstSighting(fingerprint) {
      if (sightings.has(fingerprint)) return false;
      if (sightings.size >= MAX_SIGHTINGS) sightings.clear();
      sightings.add(fingerprint);
      return true;
    },
  };
  const providers: SimulatedProvider[] = [
    createBankProvider(context),
    createCardsProvider(context),
    createCryptoProvider(context),
    createKycProvider(context),
  ];
  const admin = createAdmin({
    clock,
    timeline,
    faults,
    log,
    outbox,
    targets,
    resetState() {
      idempotency.clear();
      sightings.clear();
      for (const provider of providers) provider.reset();
    },
  });

  // Framework-level failures (bad JSON, unknown route) still answer in the provider's own format.
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) onError(error);
    const provider = providerOfPath(request.url);
    if (!provider)
      return reply.code(status).send({ error: { message: status === 500 ? 'internal error' : error.message } });
    const answer = DIALECTS[provider].error(
      status === 500 ? 'internal' : 'malformed_body',
      status === 500 ? 'Internal error' : error.message,
      {
        status,
      },
    ).answer;
    return reply
      .code(status)
      .headers(answer.headers ?? {})
      .send(answer.body);
  });
  app.setNotFoundHandler((request, reply) => {
    const provider = providerOfPath(request.url);
    if (!provider) return reply.code(404).send({ error: { message: `no route ${request.method} ${request.url}` } });
    const answer = DIALECTS[provider].error(
      'route_not_found',
      `No route ${request.method} ${request.url.split('?')[0]}`,
    ).answer;
    return reply.code(404).send(answer.body);
  });

  for (const provider of providers) {
    provider.register(app);
    provider.registerAdmin(app);
  }
  registerAdminRoutes(app, admin);

  const host = options.host ?? '127.0.0.1';
  await app.listen({ host, port: options.port ?? 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : (options.port ?? 0);
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  publicUrl ||= url;
  timeline.start(positive('tickMs', options.tickMs, 25) || 25);

  let closed: Promise<void> | undefined;
  return {
    url,
    port,
    admin,
    close() {
      closed ??= (async () => {
        timeline.stop();
        outbox.close();
        closing.abort();
        await app.close();
      })();
      return closed;
    },
  };
}
