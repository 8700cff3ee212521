-- The transactional outbox: every change that operators hear about writes its event
-- row in the same transaction as the change itself. Webhook delivery reads from here.
CREATE TABLE events (
  id           text PRIMARY KEY,
  operator_id  text NOT NULL REFERENCES operators (id),
  type         text NOT NULL,
  api_version  text NOT NULL,
  -- The resource the event is about (payment, session, user, endpoint …).
  subject_id   text NOT NULL,
  -- 1, 2, 3 … per subject, so receivers can order what they get.
  sequence     bigint NOT NULL,
  data         jsonb NOT NULL,
  created_at   timestamptz NOT NULL,
  UNIQUE (subject_id, sequence)
);

CREATE INDEX events_operator_time ON events (operator_id, created_at, id);
CREATE INDEX events_operator_type ON events (operator_id, type, created_at);

-- One row per subject; incrementing it serialises sequence numbers without scanning.
CREATE TABLE event_sequences (
  subject_id text PRIMARY KEY,
  last       bigint NOT NULL
);
