-- Outbound webhooks: endpoints, one delivery per (event, endpoint), and every attempt.

-- Events waiting to be fanned out to endpoints. A trigger fills it in the transaction
-- that records the event (so the outbox row and its queue entry commit together); the
-- fan-out empties it in the transaction that creates the deliveries, so a crash leaves
-- an event either queued or fully fanned out. Being small, it also answers the ordering
-- check "is an earlier event of this subject still waiting?" cheaply.
CREATE TABLE webhook_fanout_queue (
  event_id   text PRIMARY KEY,
  subject_id text NOT NULL,
  sequence   bigint NOT NULL
);
CREATE INDEX webhook_fanout_queue_subject ON webhook_fanout_queue (subject_id, sequence);

CREATE FUNCTION webhook_fanout_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO webhook_fanout_queue (event_id, subject_id, sequence)
  SELECT id, subject_id, sequence FROM recorded;
  RETURN NULL;
END $$;

CREATE TRIGGER events_webhook_fanout AFTER INSERT ON events
  REFERENCING NEW TABLE AS recorded FOR EACH STATEMENT EXECUTE FUNCTION webhook_fanout_enqueue();

CREATE TABLE webhook_endpoints (
  id               text PRIMARY KEY,
  operator_id      text NOT NULL REFERENCES operators (id),
  url              text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
  description      text CHECK (length(description) <= 500),
  -- Event types delivered here; '{*}' means all.
  enabled_events   text[] NOT NULL CHECK (cardinality(enabled_events) BETWEEN 1 AND 100),
  status           text NOT NULL CHECK (status IN ('enabled', 'disabled')),
  -- Why it is disabled: 'failing' (by Rampart) or 'operator'.
  disabled_reason  text,
  -- Created by a test-mode key (or with the allow flag): may point at private networks.
  allow_private    boolean NOT NULL,
  -- AES-256-GCM ciphertexts of the signing secrets; never stored in plaintext.
  secret           bytea NOT NULL,
  -- The secret before the last rotation, signed with as well until it expires.
  previous_secret  bytea,
  previous_secret_expires_at timestamptz,
  -- Set by the first failed attempt after a success; cleared by any success.
  failing_since    timestamptz,
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL,
  deleted_at       timestamptz
);

CREATE INDEX webhook_endpoints_operator ON webhook_endpoints (operator_id, id) WHERE deleted_at IS NULL;

CREATE TABLE webhook_deliveries (
  id               text PRIMARY KEY,
  -- Denormalised for scoping queries; the endpoint's operator (no FK: one less check per insert).
  operator_id      text NOT NULL,
  endpoint_id      text NOT NULL REFERENCES webhook_endpoints (id),
  -- No foreign key: the outbox is append-only, and the check would lock the event row
  -- (a write to `events`) for every delivery created.
  event_id         text NOT NULL,
  -- Copied from the event: deliveries of one subject to one endpoint go out in sequence order.
  subject_id       text NOT NULL,
  sequence         bigint NOT NULL,
  -- Why it exists: fan-out of a new event, a redelivery, a replay, or a test.
  reason           text NOT NULL CHECK (reason IN ('event', 'redeliver', 'replay', 'test')),
  status           text NOT NULL CHECK (status IN ('pending', 'succeeded', 'exhausted', 'cancelled')),
  -- Attempts claimed so far (a claim counts even if its worker dies mid-request).
  attempt_count    integer NOT NULL DEFAULT 0,
  -- When a worker may claim it next; while an attempt is in flight, the end of its lease.
  next_attempt_at  timestamptz,
  last_attempt_at  timestamptz,
  last_status_code integer,
  last_error       text,
  created_at       timestamptz NOT NULL,
  completed_at     timestamptz
);

-- The worker's claim: due pending deliveries, oldest first.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
-- The ordering check: an earlier pending delivery of the same subject to the same endpoint.
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (endpoint_id, subject_id, sequence) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);

CREATE TABLE webhook_attempts (
  delivery_id      text NOT NULL REFERENCES webhook_deliveries (id),
  -- The delivery's attempt_count when it was claimed: unique per delivery.
  attempt          integer NOT NULL,
  started_at       timestamptz NOT NULL,
  latency_ms       integer NOT NULL,
  -- NULL when no HTTP response came (timeout, refused, DNS, SSRF refusal).
  status_code      integer,
  succeeded        boolean NOT NULL,
  -- At most 1 KiB of the response body.
  response_excerpt text,
  error            text,
  PRIMARY KEY (delivery_id, attempt)
);
