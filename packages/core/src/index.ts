export { type Clock, dateTimeOf, systemClock } from './clock.ts';
export { parseSecretsKey, SecretBox } from './crypto/secret-box.ts';
export { API_VERSION, type EventType, eventTypes, isEventType } from './events/catalog.ts';
export {
  type EventInput,
  EventLog,
  presentSubject,
  type StoredEvent,
  userSubject,
} from './events/event-log.ts';
export { discrepancyObject, disputeObject, eventSchemas, type JsonSchema } from './events/schemas.ts';
export type { Subject } from './gates/compliance.ts';
export { Compliance } from './gates/compliance.ts';
export {
  computeGates,
  computePermissions,
  enforceGates,
  type Gate,
  type GateContext,
  type GateName,
  type Permission,
} from './gates/gates.ts';
export { type GeoLocator, type Location, matchesJurisdiction } from './gates/location.ts';
export {
  type Claim,
  canonicalJson,
  IdempotencyKeys,
  requestFingerprint,
  type StoredResponse,
} from './idempotency/idempotency-keys.ts';
export { createIdGenerator, type IdGenerator, idsMadeFrom } from './ids.ts';
export { Kyc, type KycProvider, type KycProvidersByMode } from './kyc/kyc.ts';
export * from './ledger/index.ts';
export * from './money/index.ts';
export { IpAllowlist, normaliseIp, normaliseOrigin, parseCidr } from './operators/allowlist.ts';
export { type ApiKey, ApiKeys, type IssuedKey, type KeyMode, type KeyScope } from './operators/api-keys.ts';
export {
  type CallerContext,
  type Operator,
  type OperatorPrincipal,
  Operators,
} from './operators/operators.ts';
export {
  type ApprovalAnswer,
  type ApprovalClient,
  type ApprovalDecision,
  type ApprovalRequest,
  decide,
} from './payments/approval.ts';
export {
  Discrepancies,
  type Discrepancy,
  type DiscrepancyFilter,
  type DiscrepancyState,
  presentDiscrepancy,
} from './payments/discrepancies.ts';
export {
  type Payment,
  type PaymentDispute,
  type PaymentFilter,
  paymentStore,
  type Transition,
} from './payments/payment-store.ts';
export {
  awaitsProvider,
  type CreatePayment,
  PAYMENT_STATUS_CHANNEL,
  type PaymentNotice,
  Payments,
  parseNotices,
  presentPaymentForEvent,
  redactInstrument,
} from './payments/payments.ts';
export {
  FALLBACK_ERRORS,
  NEVER_SENT,
  type NextAction,
  PAYMENT_KINDS,
  PAYMENT_METHODS,
  type PaymentKind,
  type PaymentMethod,
  type PaymentProvider,
  type ProviderNotice,
  type ProviderOutcome,
  type ProviderRequest,
  type ProvidersByMode,
  type WebhookSource,
} from './payments/provider.ts';
export {
  MAX_ATTEMPTS as PROVIDER_EVENT_MAX_ATTEMPTS,
  PENDING_BATCH,
  ProviderEvents,
  retryProviderEvent,
  type UnappliedProviderEvent,
  unappliedProviderEvents,
} from './payments/provider-events.ts';
export { type CreateRefund, REFUND_REASONS, type RefundReason } from './payments/refunds.ts';
export {
  assertTransition,
  canTransition,
  contradicts,
  PAYMENT_STATUSES,
  type PaymentStatus,
  reachable,
  TERMINAL_STATUSES,
  TRANSITIONS,
} from './payments/state-machine.ts';
export {
  MAX_OPERATOR_TOKEN_LIFETIME_SECONDS,
  OPERATOR_TOKEN_AUDIENCE,
  type OperatorTokenClaims,
  OperatorTokens,
  type SigningKey,
} from './sessions/operator-tokens.ts';
export {
  assertUsable,
  INIT_TOKEN_TTL_SECONDS,
  SESSION_FIELD_FORMS,
  SESSION_THEMES,
  type Session,
  type SessionInput,
  type SessionStatus,
  Sessions,
} from './sessions/sessions.ts';
export {
  WIDGET_TOKEN_AUDIENCE,
  WIDGET_TOKEN_ISSUER,
  WIDGET_TOKEN_TTL_SECONDS,
  type WidgetClaims,
  WidgetTokens,
} from './sessions/widget-tokens.ts';
export type { ApprovalSettings, EnabledCurrency, Limit, MessageSettings } from './settings/operator-settings.ts';
export {
  ACTIONS,
  type Action,
  DEFAULT_SETTINGS,
  type KycPolicy,
  mergeSettings,
  type OperatorSettings,
  OperatorSettingsStore,
  type ProviderRule,
} from './settings/operator-settings.ts';
export { CONFIG_CHANNEL, ConfigCache } from './storage/config-cache.ts';
export {
  Database,
  type DatabaseOptions,
  type PurgeBatches,
  purgeInBatches,
  type Queryable,
  type Store,
} from './storage/database.ts';
export { MIGRATIONS_DIR, migrate } from './storage/migrate.ts';
export { EARLIER_NODE_NAMES, LISTENER_NAME, NODE_NAME, Notifications } from './storage/notifications.ts';
export { deepFreeze, ReadCache } from './storage/read-cache.ts';
export { type EndUser, EndUsers, type KycStatus, normaliseProfile, type UserProfile } from './users/end-users.ts';
export { normalisePhone } from './users/phone.ts';
export { Terms, type TermsVersion } from './users/terms.ts';
export { LIMIT_PERIODS, type LimitPeriod, presentLimits, type UserLimits } from './users/user-limits.ts';
export {
  DEFAULT_VERIFICATION_LIMITS,
  DevOutbox,
  type MessageSender,
  type OutgoingMessage,
  Verification,
  type VerificationLimits,
} from './users/verification.ts';
