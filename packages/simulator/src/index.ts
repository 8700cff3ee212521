export type { FaultRuleInput, SimulatorAdmin } from './admin/admin.ts';
export { RETURN_CODES, type ReturnCode } from './banking/nacha.ts';
export type { Clock } from './clock.ts';
export type { FaultKind, FaultRule, Phase } from './faults/rules.ts';
export type { RequestLogEntry } from './http/request-log.ts';
export { PROVIDERS, type Provider } from './providers.ts';
export {
  DEFAULT_WEBHOOK_SECRETS,
  type RunningSimulator,
  type SimulatorOptions,
  startSimulator,
} from './simulator.ts';
export type { DeliveryAttempt, DeliveryRecord } from './webhooks/outbox.ts';
export { SIGNATURE_HEADER, signatureHeader, verifySignature } from './webhooks/signature.ts';
