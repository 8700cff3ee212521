import { resolve } from 'node:path';
import { parseCidr } from '@rampart/core';
import { parseWebhookConfig, type WebhookConfig } from '@rampart/webhooks';

/** Everything Rampart reads from the environment, read once, here, at start-up. */
export interface Config {
  host: string;
  port: number;
  /** Unset: run the embedded PostgreSQL in `dataDir`. */
  databaseUrl: string | undefined;
  dataDir: string;
  /** Port of the embedded PostgreSQL; 0 picks a free one. */
  embeddedPgPort: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** CIDRs of reverse proxies whose X-Forwarded-For is believed; empty: use the socket address. */
  trustedProxies: string[];
  /** How long a rotated key keeps working. */
  keyRotationOverlapSeconds: number;
  /** Connections this node keeps to PostgreSQL. */
  databasePoolSize: number;
  /** Requests per minute per API key; 0 disables the limit. */
  rateLimitPerMinute: number;
  /** Provider webhooks failing authentication per minute per source address before it is refused; 0: no limit. */
  providerWebhookFailuresPerMinute: number;
  bodyLimitBytes: number;
  /** Base URL printed and used in links (widget, docs). */
  publicUrl: string | undefined;
  /** RAMPART_SECRETS_KEY as given (see secrets.ts); unset: a key kept in the data directory. */
  secretsKey: string | undefined;
  /** Start the sandbox providers (the simulator) beside the API and route payments to them. */
  simulator: boolean;
  /** Port of the simulator; 0 picks a free one. */
  simulatorPort: number;
  /**
   * A simulator already running as its own service (`node packages/simulator/src/main.ts`):
   * the sandbox connectors talk to it instead of starting one in this process.
   */
  simulatorUrl: string | undefined;
  /** Development pages (mail/SMS outbox). Switch off in production. */
  devTools: boolean;
  /**
   * On a first start (no operators yet), create a test-mode demo operator and print its
   * secret key. A deployment's logs are kept and shared, so a key must never reach them:
   * there the first operator is made with the CLI, its key shown only to whoever ran it.
   */
  demoOperator: boolean;
  /** How long Idempotency-Key answers are kept. */
  idempotencyTtlSeconds: number;
  /** Days an applied provider webhook's payload is kept (its event id for good); 0: the payload too. */
  providerWebhookRetentionDays: number;
  /** How long a running request's key stays claimed unrenewed (its process died): see `IdempotencyKeys`. */
  idempotencyLeaseSeconds: number;
  /** Webhook delivery: retry schedule, timeout, disabling, SSRF allow flag, worker size (RAMPART_WEBHOOK_*). */
  webhooks: WebhookConfig;
  /** Grace period for in-flight requests on shutdown. */
  shutdownGraceMs: number;
  /** The bearer token of `GET /metrics`; unset: not served. */
  metricsToken: string | undefined;
}

/** A token worth its name, or none at all. */
function metricsToken(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (value.length < 16) throw new ConfigError('RAMPART_METRICS_TOKEN', 'must be at least 16 characters');
  return value;
}

/** A host that only this machine can reach. */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

export class ConfigError extends Error {
  readonly variable: string;

  constructor(variable: string, problem: string) {
    super(`${variable}: ${problem}`);
    this.variable = variable;
    this.name = 'ConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(name, `expected a whole number, got ${JSON.stringify(raw)}`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(name, `expected ${min} to ${max}, got ${value}`);
  return value;
}

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(name, `expected true or false, got ${JSON.stringify(raw)}`);
}

function url(env: Env, name: string): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  if (!URL.canParse(raw) || !/^https?:/.test(raw))
    throw new ConfigError(name, `not an http(s) URL: ${JSON.stringify(raw)}`);
  return raw.replace(/\/$/, '');
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export function loadConfig(env: Env = process.env, cwd: string = process.cwd()): Config {
  const logLevel = env['LOG_LEVEL'] || 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel))
    throw new ConfigError('LOG_LEVEL', `expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`);

  const databaseUrl = env['DATABASE_URL'] || undefined;
  if (databaseUrl !== undefined) {
    let url: URL;
    try {
      url = new URL(databaseUrl);
    } catch {
      throw new ConfigError('DATABASE_URL', 'not a URL (expected postgres://user:password@host:port/database)');
    }
    if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:')
      throw new ConfigError('DATABASE_URL', `expected a postgres:// URL, got ${url.protocol}`);
  }

  const trustedProxies = (env['RAMPART_TRUSTED_PROXIES'] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const cidr of trustedProxies) {
    if (!parseCidr(cidr))
      throw new ConfigError('RAMPART_TRUSTED_PROXIES', `${JSON.stringify(cidr)} is not an IP or CIDR`);
  }

  const publicUrl = env['RAMPART_PUBLIC_URL'] || undefined;
  if (publicUrl !== undefined && !URL.canParse(publicUrl))
    throw new ConfigError('RAMPART_PUBLIC_URL', `not a URL: ${JSON.stringify(publicUrl)}`);

  const host = env['HOST'] || '127.0.0.1';
  if (/\s/.test(host)) throw new ConfigError('HOST', `not a host name: ${JSON.stringify(host)}`);

  return {
    host,
    port: integer(env, 'PORT', 4000, 0, 65_535),
    databaseUrl,
    dataDir: resolve(cwd, env['RAMPART_DATA_DIR'] || '.rampart'),
    embeddedPgPort: integer(env, 'RAMPART_EMBEDDED_PG_PORT', 0, 0, 65_535),
    logLevel: logLevel as Config['logLevel'],
    trustedProxies,
    keyRotationOverlapSeconds: integer(env, 'RAMPART_KEY_ROTATION_OVERLAP_SECONDS', 86_400, 0, 30 * 86_400),
    // A few connections per database core do the most work: more make PostgreSQL spend its
    // CPU switching between them and queueing for the WAL (measured: 8 did ~10% more creates
    // per CPU-second than 20 on two cores).
    databasePoolSize: integer(env, 'RAMPART_DB_POOL_SIZE', 10, 2, 500),
    rateLimitPerMinute: integer(env, 'RAMPART_RATE_LIMIT_PER_MINUTE', 6_000, 0, 10_000_000),
    providerWebhookFailuresPerMinute: integer(env, 'RAMPART_PROVIDER_WEBHOOK_FAILURES_PER_MINUTE', 60, 0, 1_000_000),
    bodyLimitBytes: integer(env, 'RAMPART_BODY_LIMIT_BYTES', 1_048_576, 1_024, 64 * 1_048_576),
    publicUrl,
    secretsKey: env['RAMPART_SECRETS_KEY'] || undefined,
    // Development conveniences default on only with the embedded database: a server on a
    // real DATABASE_URL is presumed to be a deployment, where they must be asked for.
    simulator: boolean(env, 'RAMPART_SIMULATOR', databaseUrl === undefined),
    simulatorPort: integer(env, 'RAMPART_SIMULATOR_PORT', 4100, 0, 65_535),
    simulatorUrl: url(env, 'RAMPART_SIMULATOR_URL'),
    // Dev pages show every operator's verification links and codes, unauthenticated: by
    // default only where nobody else can reach them (embedded database, loopback address).
    devTools: boolean(env, 'RAMPART_DEV_TOOLS', databaseUrl === undefined && isLoopback(host)),
    demoOperator: boolean(env, 'RAMPART_DEMO_OPERATOR', databaseUrl === undefined),
    idempotencyTtlSeconds: integer(env, 'RAMPART_IDEMPOTENCY_TTL_SECONDS', 86_400, 3_600, 30 * 86_400),
    idempotencyLeaseSeconds: integer(env, 'RAMPART_IDEMPOTENCY_LEASE_SECONDS', 15, 3, 600),
    providerWebhookRetentionDays: integer(env, 'RAMPART_PROVIDER_WEBHOOK_RETENTION_DAYS', 180, 0, 3_650),
    webhooks: parseWebhookConfig(env, (variable, problem) => {
      throw new ConfigError(variable, problem);
    }),
    shutdownGraceMs: integer(env, 'RAMPART_SHUTDOWN_GRACE_MS', 10_000, 0, 600_000),
    metricsToken: metricsToken(env['RAMPART_METRICS_TOKEN']),
  };
}
