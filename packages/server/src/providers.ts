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

/** Connectors to the sandbox providers, as `npm start` and the tests use them. */
export interface ProviderSet {
  payment: PaymentProvider[];
  webhookSources: WebhookSource[];
  kyc: KycProvider;
  /** Where each provider's browser SDK is served: the base URL its connector calls. */
  sdkBaseUrls: Record<string, () => string>;
}

/** The simulator's default webhook secrets (`whsec_sim_<provider>`); production connectors take real ones. */
export function sandboxProviders(options: {
  simulatorUrl: () => string;
  clock: Clock;
  db: Store;
  timeoutMs?: number;
  /** Consecutive faults before a provider's circuit opens (default 5). */
  breakerThreshold?: number;
}): ProviderSet {
  const common = (provider: string) => ({
    baseUrl: options.simulatorUrl,
    apiKey: `sk_sandbox_${provider}`,
    webhookSecret: `whsec_sim_${provider}`,
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

/** Which simulator provider each connector id talks to, for webhook targets. */
export const SANDBOX_WEBHOOK_PATHS = { bank: 'simbank', cards: 'simcard', crypto: 'simcrypto', kyc: 'simkyc' } as const;
