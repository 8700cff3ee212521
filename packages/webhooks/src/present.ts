import { presentSubject } from '@rampart/core';
import type { WebhookAttempt, WebhookDelivery } from './deliveries.ts';
import type { WebhookEndpoint } from './endpoints.ts';

/** API and CLI representations; dates as ISO strings, never secrets. */
export function presentEndpoint(endpoint: WebhookEndpoint) {
  return {
    id: endpoint.id,
    object: 'webhook_endpoint' as const,
    url: endpoint.url,
    description: endpoint.description,
    enabled_events: endpoint.enabled_events,
    status: endpoint.status,
    disabled_reason: endpoint.disabled_reason,
    failing_since: endpoint.failing_since?.toISOString() ?? null,
    previous_secret_expires_at: endpoint.previous_secret_expires_at?.toISOString() ?? null,
    created_at: endpoint.created_at.toISOString(),
    updated_at: endpoint.updated_at.toISOString(),
  };
}

export function presentAttempt(attempt: WebhookAttempt) {
  return {
    attempt: attempt.attempt,
    started_at: attempt.started_at.toISOString(),
    latency_ms: attempt.latency_ms,
    status_code: attempt.status_code,
    succeeded: attempt.succeeded,
    response_excerpt: attempt.response_excerpt,
    error: attempt.error,
  };
}

export function presentDelivery(delivery: WebhookDelivery & { attempts?: WebhookAttempt[] }) {
  return {
    id: delivery.id,
    object: 'webhook_delivery' as const,
    endpoint_id: delivery.endpoint_id,
    event_id: delivery.event_id,
    event_type: delivery.event_type,
    subject_id: presentSubject(delivery.operator_id, delivery.subject_id),
    sequence: Number(delivery.sequence),
    reason: delivery.reason,
    status: delivery.status,
    attempt_count: delivery.attempt_count,
    next_attempt_at: delivery.status === 'pending' ? (delivery.next_attempt_at?.toISOString() ?? null) : null,
    last_attempt_at: delivery.last_attempt_at?.toISOString() ?? null,
    last_status_code: delivery.last_status_code,
    last_error: delivery.last_error,
    created_at: delivery.created_at.toISOString(),
    completed_at: delivery.completed_at?.toISOString() ?? null,
    ...(delivery.attempts ? { attempts: delivery.attempts.map(presentAttempt) } : {}),
  };
}
