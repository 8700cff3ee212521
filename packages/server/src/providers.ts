import { hkdfSync } from 'node:crypto';
import {
  CircuitBreaker,
  DepositAddresses,
  SimBankConnector,
  SimCardConnector,
  SimCryptoConnector,
  SimKycConnector,
} from '@rampart/connectors';
import {
  type Clock,
  type KycProvider,
  OperatorSettingsStore,
  type PaymentProvider,
  type Store,
  type WebhookSource,
} from '@rampart/core';
import type { AppDependencies } from './app.ts';

/** Connectors to the sandbox providers, as `npm start` and the tests use them. */
export interface ProviderSet {
  payment: PaymentProvider[];
  webhookSources: WebhookSource[];
  kyc: KycProvider;
  /** Where each provider's browser SDK is served: the base URL its connector calls. */
  sdkBaseUrls: Record<string, () => string>;
}

type SandboxProvider = keyof typeof SANDBOX_WEBHOOK_PATHS;

/**
 * Webhook secrets for a simulator Rampart starts itself, derived from the master secret:
 * its own, so that no one else can sign its webhooks. (The simulator's defaults,
 * `whsec_sim_<provider>`, are public; a simulator run as its own service uses them.)
 */
export function sandboxWebhookSecrets(master: Buffer): Record<SandboxProvider, string> {
  const secret = (provider: string) =>
    `whsec_${Buffer.from(hkdfSync('sha256', master, 'rampart sandbox webhooks', provider, 32)).toString('base64url')}`;
  return { bank: secret('bank'), cards: secret('cards'), crypto: secret('crypto'), kyc: secret('kyc') };
}

/** Connectors to the simulator, verifying its webhooks with `webhookSecrets` (its public defaults when absent). */
export function sandboxProviders(options: {
  simulatorUrl: () => string;
  clock: Clock;
  db: Store;
  timeoutMs?: number;
  /** Consecutive faults before a provider's circuit opens (default 5). */
  breakerThreshold?: number;
  webhookSecrets?: Record<SandboxProvider, string>;
}): ProviderSet {
  const common = (provider: SandboxProvider) => ({
    baseUrl: options.simulatorUrl,
    apiKey: `sk_sandbox_${provider}`,
    webhookSecret: options.webhookSecrets?.[provider] ?? `whsec_sim_${provider}`,
    clock: options.clock,
    ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
    breaker: new CircuitBreaker(options.breakerThreshold ? { threshold: options.breakerThreshold } : {}),
  });
  const settings = new OperatorSettingsStore(options.db);
  const bank = new SimBankConnector(common('bank'));
  const card = new SimCardConnector(common('cards'));
  const crypto = new SimCryptoConnector({
    ...common('crypto'),
    addresses: new DepositAddresses(options.db, options.clock),
    xpubFor: async (operatorId, network) => (await settings.get(operatorId)).crypto_xpubs[network],
  });
  const kyc = new SimKycConnector(common('kyc'));
  return {
    payment: [bank, card, crypto],
    webhookSources: [bank, card, crypto, kyc],
    kyc,
    sdkBaseUrls: { [bank.id]: options.simulatorUrl },
  };
}

/**
 * What the app is given from a sandbox: its connectors serve test mode alone, so that
 * no live payment is ever "completed" by a simulator, nor a live user verified by one
 * (its webhook secrets are public). `live: true` also hands it live mode, for tests of
 * live-mode behaviour only: never a deployment.
 */
export function sandboxDependencies(
  set: ProviderSet,
  options: { live?: boolean } = {},
): Pick<AppDependencies, 'providers' | 'kycProviders' | 'webhookSources' | 'sdkBaseUrls'> {
  return {
    providers: { test: set.payment, ...(options.live ? { live: set.payment } : {}) },
    kycProviders: { test: set.kyc, ...(options.live ? { live: set.kyc } : {}) },
    webhookSources: set.webhookSources,
    sdkBaseUrls: set.sdkBaseUrls,
  };
}

/** Which simulator provider each connector id talks to, for webhook targets. */
export const SANDBOX_WEBHOOK_PATHS = { bank: 'simbank', cards: 'simcard', crypto: 'simcrypto', kyc: 'simkyc' } as const;
