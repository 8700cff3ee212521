import { SimBankConnector, SimCardConnector } from '@rampart/connectors';
import type { Clock, KycProvider, PaymentProvider, WebhookSource } from '@rampart/core';

/** Connectors to the sandbox providers, as `npm start` and the tests use them. */
export interface ProviderSet {
  payment: PaymentProvider[];
  webhookSources: WebhookSource[];
  kyc?: KycProvider;
}

/** The simulator's default webhook secrets (`whsec_sim_<provider>`); production connectors take real ones. */
export function sandboxProviders(options: {
  simulatorUrl: () => string;
  clock: Clock;
  timeoutMs?: number;
}): ProviderSet {
  const common = (provider: string) => ({
    baseUrl: options.simulatorUrl,
    apiKey: `sk_sandbox_${provider}`,
    webhookSecret: `whsec_sim_${provider}`,
    clock: options.clock,
    ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
  });
  const bank = new SimBankConnector(common('bank'));
  const card = new SimCardConnector(common('cards'));
  return { payment: [bank, card], webhookSources: [bank, card] };
}

/** Which simulator provider each connector id talks to, for webhook targets. */
export const SANDBOX_WEBHOOK_PATHS = { bank: 'simbank', cards: 'simcard', crypto: 'simcrypto', kyc: 'simkyc' } as const;
