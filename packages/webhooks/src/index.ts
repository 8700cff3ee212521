export {
  DEFAULT_RETRY_SCHEDULE_MS,
  defaultWebhookConfig,
  parseDuration,
  parseWebhookConfig,
  type WebhookConfig,
} from './config.ts';
export {
  type DeliveryReason,
  type DeliveryStatus,
  endpointWants,
  insertDeliveries,
  MAX_REPLAY_EVENTS,
  type WebhookAttempt,
  WebhookDeliveries,
  type WebhookDelivery,
} from './deliveries.ts';
export { type ClaimedDelivery, type Completion, DeliveryQueue, purgeDeliveryLogs } from './delivery-queue.ts';
export {
  type EndpointCaller,
  type EndpointInput,
  type EndpointStatus,
  type WebhookEndpoint,
  WebhookEndpoints,
} from './endpoints.ts';
export { type EventPayload, presentEvent } from './event-payload.ts';
export { FanOut } from './fan-out.ts';
export { eventEnvelopeSchema, openApiWebhooks } from './openapi.ts';
export { presentAttempt, presentDelivery, presentEndpoint } from './present.ts';
export { type RejectionReason, WebhookRejected, WebhookVerifier } from './receiver.ts';
export { nextRetryDelay, parseRetryAfter } from './retry-schedule.ts';
export { generateSigningSecret, parseSecretsKey, SecretBox } from './secret-box.ts';
export { signatureHeader, signingKey } from './signature.ts';
export { isSuccess, type PostRequest, type PostResult, WebhookTransport } from './transport.ts';
export {
  addressAllowed,
  checkEndpointUrl,
  guardedLookup,
  type HostResolver,
  hostOf,
  hostResolver,
  isPrivateAddress,
  type NetworkPolicy,
  networkPolicy,
} from './url-policy.ts';
export { WebhookWorker, type WorkerLog, type WorkerStats } from './worker.ts';
