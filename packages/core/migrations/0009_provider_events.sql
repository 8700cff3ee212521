-- Inbound provider webhooks, recorded (and deduplicated) before they are acknowledged.
-- Processing happens after the 2xx; a row stays unprocessed until it has been applied.
CREATE TABLE provider_events (
  provider      text NOT NULL,
  event_id      text NOT NULL,
  notice        jsonb NOT NULL,
  received_at   timestamptz NOT NULL,
  processed_at  timestamptz,
  attempts      integer NOT NULL DEFAULT 0,
  last_error    text,
  PRIMARY KEY (provider, event_id)
);

CREATE INDEX provider_events_unprocessed ON provider_events (received_at) WHERE processed_at IS NULL;
