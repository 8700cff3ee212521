import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import fastifyWebsocket from '@fastify/websocket';
import {
  type ApprovalClient,
  type Clock,
  Compliance,
  ConfigCache,
  type Database,
  DevOutbox,
  EndUsers,
  EventLog,
  type GeoLocator,
  IdempotencyKeys,
  type IdGenerator,
  type KeyMode,
  Kyc,
  type KycProvidersByMode,
  Ledger,
  Notifications,
  OperatorSettingsStore,
  Operators,
  OperatorTokens,
  Payments,
  PENDING_BATCH,
  ProviderEvents,
  type ProvidersByMode,
  SecretBox,
  Sessions,
  Terms,
  UserBalances,
  Verification,
  type WebhookSource,
  WidgetTokens,
} from '@rampart/core';
import { RampartError } from '@rampart/errors';
import { purgeDeliveryLogs } from '@rampart/webhooks';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Config } from './config.ts';
import { GeoIpLiteLocator } from './geo/geoip-lite.ts';
import { HttpApprovalClient } from './hooks/approval-client.ts';
import { OperatorHooks, operatorHookSecret } from './hooks/operator-hooks.ts';
import { OperatorMessages } from './hooks/operator-messages.ts';
import { requireOperator } from './http/auth.ts';
import { answerRouterError, installErrorHandling } from './http/errors.ts';
import { idempotentPosts } from './http/idempotency.ts';
import { refuseUnstorableInput } from './http/input-guard.ts';
import { onPostRoutes } from './http/post-hooks.ts';
import { RateLimiter } from './http/rate-limit.ts';
import { requestIdFor } from './http/request-id.ts';
import { requireWidgetSession } from './http/widget-auth.ts';
import type { Job } from './jobs.ts';
import { registerOpenApi } from './openapi.ts';
import { complianceConfigRoutes } from './routes/compliance-config.ts';
import { devRoutes } from './routes/dev.ts';
import { discrepancyRoutes, discrepancySchema } from './routes/discrepancies.ts';
import { eventRoutes, eventSchema } from './routes/events.ts';
import { healthRoutes } from './routes/health.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { operatorRoutes } from './routes/operator.ts';
import { PaymentStream, paymentStreamRoutes } from './routes/payment-stream.ts';
import { partnerPaymentRoutes, paymentSchema, widgetPaymentRoutes } from './routes/payments.ts';
import { providerWebhookRoutes } from './routes/provider-webhooks.ts';
import { apiKeySchema, issuedKeySchema, operatorSchema } from './routes/schemas.ts';
import { sessionRoutes, sessionSchema } from './routes/sessions.ts';
import {
  balanceRoutes,
  endUserSchema,
  kycStatusSchema,
  ledgerRoutes,
  userLimitRoutes,
  userRoutes,
} from './routes/users.ts';
import { webhookRoutes, webhookSchemas } from './routes/webhooks.ts';
import { publicWidgetRoutes, widgetRoutes } from './routes/widget.ts';
import { widgetHostingRoutes } from './routes/widget-hosting.ts';

/** How long a recorded webhook waits for the provider answer it may have overtaken (see below). */
const WEBHOOK_APPLY_DELAY_MS = 200;

export interface AppDependencies {
  config: Config;
  db: Database;
  clock: Clock;
  ids: IdGenerator;
  /** Where JSON logs go; tests pass a stream to inspect them. */
  logStream?: NodeJS.WritableStream;
  /** Master secret widget-token keys are derived from; random (per process) when absent. */
  masterSecret?: Buffer;
  geo?: GeoLocator;
  /** The KYC provider of each mode (none: verification only by the operator's attestation). */
  kycProviders?: KycProvidersByMode;
  /** Payment provider connectors of each mode. */
  providers?: ProvidersByMode;
  /** Connectors whose inbound webhooks are accepted at /v1/provider-webhooks/{id}. */
  webhookSources?: WebhookSource[];
  /** How withdrawal approvals are asked; signed HTTP when absent. */
  approvals?: ApprovalClient;
  /** Base URL of each provider's browser SDK, by provider id: what the widget's pages load (and allow). */
  sdkBaseUrls?: Record<string, () => string>;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Background work this app needs run periodically; `main.ts` starts it, tests run it by hand. */
    jobs: Job[];
  }
}

/**
 * A request as the log shows it: the path without its query, which can carry a one-time
 * secret (an email link's token).
 */
function requestForLog(request: FastifyRequest) {
  const [path = '/'] = request.url.split('?');
  return { method: request.method, url: path, host: request.host, remoteAddress: request.ip };
}

/** The HTTP application, with everything injected; `main.ts` wires the real things. */
export async function buildApp(deps: AppDependencies): Promise<FastifyInstance> {
  const { config, db, clock, ids } = deps;
  const app = Fastify({
    logger: {
      level: config.logLevel,
      ...(deps.logStream ? { stream: deps.logStream } : {}),
      // Credentials never reach the logs, whatever a serializer is later changed to print.
      redact: {
        paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization'],
        censor: '[redacted]',
      },
      serializers: { req: requestForLog },
    },
    genReqId: requestIdFor,
    trustProxy: config.trustedProxies.length > 0 ? config.trustedProxies : false,
    bodyLimit: config.bodyLimitBytes,
    // Our own hook answers during shutdown, in the catalog's envelope.
    return503OnClosing: false,
    frameworkErrors: answerRouterError,
    ajv: { customOptions: { allErrors: true, coerceTypes: false, removeAdditional: false, allowUnionTypes: true } },
  });

  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    if (closing) {
      reply.header('connection', 'close');
      throw new RampartError('service_unavailable', { reason: 'shutting down' });
    }
  });
  refuseUnstorableInput(app);
  // A POST without a body is a POST with `{}`: optional bodies validate, fingerprints agree.
  onPostRoutes(app, {
    preValidation: async (request: FastifyRequest) => {
      if (request.body === undefined) request.body = {};
    },
  });
  // JSON only: any other body type is refused with a catalog error, never half-parsed.
  app.removeContentTypeParser('text/plain');

  installErrorHandling(app);
  app.addSchema(apiKeySchema);
  app.addSchema(issuedKeySchema);
  app.addSchema(operatorSchema);
  for (const schema of [eventSchema, ...webhookSchemas]) app.addSchema(schema);
  app.addSchema(kycStatusSchema);
  app.addSchema(endUserSchema);
  app.addSchema(sessionSchema);
  app.addSchema(paymentSchema);
  app.addSchema(discrepancySchema);
  await app.register(fastifyWebsocket, { options: { maxPayload: 64 * 1024 } });
  await registerOpenApi(app);

  // One LISTEN connection per node: caches drop what other nodes change, streams push status.
  const notifications = new Notifications(db.connectionString);
  app.addHook('onClose', () => notifications.close());
  const configCache = new ConfigCache(notifications, () => clock.now().getTime());
  await notifications.start();
  const operators = new Operators(db, ids, clock, configCache);
  const limiter = new RateLimiter(config.rateLimitPerMinute);
  const masterSecret = deps.masterSecret ?? randomBytes(32);
  const idempotencyKeys = new IdempotencyKeys(db, clock, {
    leaseSeconds: config.idempotencyLeaseSeconds,
    box: SecretBox.derive(masterSecret, 'rampart/idempotent-responses/v1'),
  });
  const events = new EventLog(db, ids, clock);
  const settings = new OperatorSettingsStore(db, configCache);
  const users = new EndUsers(db, clock, events);
  const terms = new Terms(db, clock, users, configCache);
  const widgetTokens = new WidgetTokens(masterSecret, clock);
  const ledger = new Ledger(db, ids, clock);
  // Rampart's calls to an operator's own endpoints (approval, messages).
  const hooks = new OperatorHooks(masterSecret, clock, {
    devServer: config.devTools,
    allowPrivateUrls: config.webhooks.allowPrivateUrls,
  });
  app.addHook('onClose', () => hooks.close());
  const approvals = deps.approvals ?? new HttpApprovalClient(hooks);
  const payments = new Payments({
    db,
    ids,
    clock,
    events,
    ledger,
    providers: deps.providers ?? {},
    approvals,
    reviewBox: SecretBox.derive(masterSecret, 'rampart/withdrawal-reviews/v1'),
    settings,
    notifications,
  });
  const paymentStream = new PaymentStream(notifications, payments);
  const kycProviders = deps.kycProviders ?? {};
  const serves = (mode: KeyMode, provider: string) =>
    payments.offered(mode).has(provider) || kycProviders[mode]?.id === provider;
  const providerEvents = new ProviderEvents({
    db,
    clock,
    payments,
    users,
    serves,
    kycProviders: Object.values(kycProviders).filter((p) => p !== undefined),
  });
  // Apply recorded webhooks shortly after they arrive, one run at a time on this node: a
  // burst of webhooks is one run that loops, not a run per webhook competing for
  // connections. Shortly, not at once: a processor sends a webhook as it answers the call
  // that caused it, so the webhook often arrives before the answer is applied. After
  // `WEBHOOK_APPLY_DELAY_MS` the answer has usually landed, and the run settles all such
  // webhooks in one statement instead of racing each answer for its payment. The
  // background job retries whatever this misses.
  let applying: Promise<void> | null = null;
  let applyAgain = false;
  const applyProviderEvents = () => {
    if (applying) {
      applyAgain = true;
      return;
    }
    applying = (async () => {
      do {
        applyAgain = false;
        await sleep(WEBHOOK_APPLY_DELAY_MS);
        while ((await providerEvents.processPending()) >= PENDING_BATCH) {}
      } while (applyAgain);
    })()
      .catch((error: unknown) => app.log.error({ err: error }, 'provider events failed'))
      .finally(() => {
        applying = null;
      });
  };
  app.addHook('onClose', async () => {
    await applying;
  });
  app.addHook('onClose', () => paymentStream.close());
  const operatorTokens = new OperatorTokens(db, clock);
  const sessions = new Sessions({ db, ids, clock, events, settings, widgetTokens, operatorTokens, users });
  const outbox = new DevOutbox(db, ids, clock);
  const sender = new OperatorMessages({ settings, hooks, outbox });
  const verification = new Verification({ db, ids, clock, users, sender });
  const kyc = new Kyc(users, kycProviders);
  // Links in mail and widget URLs: the configured public URL, else where this server listens.
  const baseUrl = () => {
    if (config.publicUrl) return config.publicUrl.replace(/\/$/, '');
    try {
      return app.listeningOrigin;
    } catch {
      return `http://${config.host}:${config.port}`;
    }
  };
  const ownOrigin = () => (config.publicUrl ? new URL(config.publicUrl).origin : undefined);
  const compliance = new Compliance({
    users,
    settings,
    terms,
    geo: deps.geo ?? new GeoIpLiteLocator(),
    links: { kycUrl: (subject) => `${baseUrl()}/widget/?${subject.id ? `session=${subject.id}&` : ''}step=kyc` },
    offered: (mode) => payments.offered(mode),
  });
  const widgetDeps = { sessions, operators, compliance, terms, verification, kyc, widgetTokens, baseUrl, ownOrigin };

  healthRoutes(app, db);
  metricsRoutes(app, db, config.metricsToken);
  await app.register(async (partner) => {
    requireOperator(partner, operators, limiter);
    idempotentPosts(partner, idempotencyKeys, (request) => `${request.operator.operatorId}:${request.operator.mode}`);
    operatorRoutes(partner, operators, clock, config.keyRotationOverlapSeconds);
    eventRoutes(partner, events);
    webhookRoutes(partner, {
      db,
      ids,
      clock,
      config: config.webhooks,
      masterSecret: deps.masterSecret,
      configuredKey: config.secretsKey,
      devServer: config.devTools,
    });
    userRoutes(partner, users, kyc);
    userLimitRoutes(partner, { users, settings, now: () => clock.now() });
    balanceRoutes(partner, new UserBalances({ db, ledger, users, settings, events }));
    ledgerRoutes(partner, ledger);
    sessionRoutes(partner, sessions, baseUrl, clock);
    complianceConfigRoutes(partner, { settings, terms, operatorTokens, hookPolicy: (mode) => hooks.policy(mode) });
    partnerPaymentRoutes(partner, { payments, compliance, users });
    discrepancyRoutes(partner, payments.discrepancies);
    paymentStreamRoutes(partner, { stream: paymentStream, payments, operators });
    if (config.devTools) devRoutes(partner, outbox);
    partner.get(
      '/v1/operator/approval_secret',
      {
        schema: {
          tags: ['operator'],
          summary:
            "Secret that signs Rampart's calls to your endpoints: withdrawal approvals and messages (Standard Webhooks)",
        },
      },
      async (request) => {
        // A signing secret, not data: read-only keys (dashboards, reporting) do not get it.
        if (request.operator.scope === 'read_only')
          throw new RampartError('insufficient_scope', { required_scope: 'full', key_scope: 'read_only' });
        return { secret: operatorHookSecret(masterSecret, request.operator.operatorId) };
      },
    );
  });
  publicWidgetRoutes(app, widgetDeps);
  widgetHostingRoutes(app, { sdkBaseUrls: deps.sdkBaseUrls ?? {} });
  await providerWebhookRoutes(app, {
    sources: deps.webhookSources ?? [],
    events: providerEvents,
    onRecorded: applyProviderEvents,
    failures: new RateLimiter(config.providerWebhookFailuresPerMinute),
  });
  await app.register(async (widget) => {
    requireWidgetSession(widget, { sessions, operators, limiter, ownOrigin });
    idempotentPosts(widget, idempotencyKeys, (request) => request.widget.session.id);
    widgetRoutes(widget, widgetDeps);
    widgetPaymentRoutes(widget, { payments, compliance });
  });

  app.decorate('jobs', [
    { name: 'process-provider-events', everyMs: 1_000, run: () => providerEvents.processPending() },
    { name: 'reconcile-payments', everyMs: 30_000, run: () => payments.reconcile() },
    { name: 'expire-holds', everyMs: 30_000, run: () => payments.expireHolds() },
    { name: 'expire-reviews', everyMs: 30_000, run: () => payments.expireReviews() },
    { name: 'purge-idempotency-keys', everyMs: 60_000, run: () => idempotencyKeys.purge(config.idempotencyTtlSeconds) },
    { name: 'expire-sessions', everyMs: 5_000, run: () => sessions.expireDue() },
    { name: 'purge-used-token-ids', everyMs: 60_000, run: () => operatorTokens.purgeUsedIds() },
    ...(config.providerWebhookRetentionDays > 0
      ? [
          {
            name: 'purge-provider-webhook-payloads',
            everyMs: 60_000,
            run: () => providerEvents.purgePayloads(clock.now(), config.providerWebhookRetentionDays * 86_400_000),
          },
        ]
      : []),
    ...(config.webhooks.logRetentionMs > 0
      ? [
          {
            name: 'purge-webhook-logs',
            everyMs: 60_000,
            run: () => purgeDeliveryLogs(db, clock.now(), config.webhooks.logRetentionMs),
          },
        ]
      : []),
  ]);

  return app;
}
