import { API_VERSION, type EventType, eventSchemas, eventTypes, type JsonSchema } from '@rampart/core';

/** The event envelope; `data` is the type's own schema, or any object for the list API. */
export function eventEnvelopeSchema(type?: EventType): Record<string, unknown> {
  return {
    type: 'object',
    required: ['id', 'object', 'type', 'api_version', 'subject_id', 'sequence', 'data', 'created_at'],
    properties: {
      id: { type: 'string', description: 'The event, `evt_…`; also the `webhook-id` header of its deliveries.' },
      object: { type: 'string', const: 'event' },
      type: type ? { type: 'string', const: type } : { type: 'string', enum: Object.keys(eventTypes) },
      api_version: { type: 'string', description: `Payload version, currently ${API_VERSION}.` },
      subject_id: {
        type: 'string',
        description: 'The resource the event is about: a payment, session or endpoint id, or the user’s own id.',
      },
      sequence: {
        type: 'integer',
        minimum: 1,
        description: "1, 2, 3 … per subject: order a subject's events by it.",
      },
      data: type ? (eventSchemas[type] as JsonSchema) : { type: 'object', additionalProperties: true },
      created_at: { type: 'string', format: 'date-time' },
    },
  };
}

const header = (name: string, description: string) => ({
  in: 'header',
  name,
  required: true,
  schema: { type: 'string' },
  description,
});

/** OpenAPI 3.1 `webhooks`: one entry per event type, as Rampart POSTs it to endpoints. */
export function openApiWebhooks(): Record<string, unknown> {
  const webhooks: Record<string, unknown> = {};
  for (const [type, summary] of Object.entries(eventTypes) as [EventType, string][]) {
    webhooks[type] = {
      post: {
        operationId: `event_${type.replace(/\W/g, '_')}`,
        tags: ['events'],
        summary,
        description:
          'Signed per Standard Webhooks: verify `webhook-signature` over `webhook-id.webhook-timestamp.body` ' +
          'with the endpoint secret before trusting it. Deliveries of one subject arrive in `sequence` order.',
        parameters: [
          header('webhook-id', 'The event id; the same on every retry and redelivery (de-duplicate on it).'),
          header('webhook-timestamp', 'Unix seconds when this attempt was signed; refuse if more than 5 minutes off.'),
          header('webhook-signature', '`v1,<base64>`; two, space-separated, while a rotated secret overlaps.'),
        ],
        requestBody: { required: true, content: { 'application/json': { schema: eventEnvelopeSchema(type) } } },
        responses: {
          '2XX': { description: 'Received. Anything else, or no answer within the timeout (15 s), is retried.' },
        },
      },
    };
  }
  return webhooks;
}
