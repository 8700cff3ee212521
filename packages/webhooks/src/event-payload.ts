import { type EventType, presentSubject, type StoredEvent } from '@rampart/core';

/**
 * An event as operators see it, the same in `GET /v1/events` and in a delivery body.
 * `sequence` counts the events of one subject (1, 2, 3 …) so receivers can order them;
 * `subject_id` is the payment's, session's or webhook endpoint's id, or the user's own.
 */
export interface EventPayload {
  id: string;
  object: 'event';
  type: EventType;
  api_version: string;
  subject_id: string;
  sequence: number;
  data: Record<string, unknown>;
  created_at: string;
}

export function presentEvent(event: StoredEvent): EventPayload {
  return {
    id: event.id,
    object: 'event',
    type: event.type,
    api_version: event.api_version,
    subject_id: presentSubject(event.operator_id, event.subject_id),
    sequence: Number(event.sequence),
    data: event.data,
    created_at: event.created_at.toISOString(),
  };
}
