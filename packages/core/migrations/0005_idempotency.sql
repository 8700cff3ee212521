-- Stored answers of POST requests that carried an Idempotency-Key.
CREATE TABLE idempotency_keys (
  -- Whose key: 'op_…:test' for the Partner API, 'ses_…' for a widget session.
  principal       text NOT NULL,
  key             text NOT NULL,
  -- SHA-256 of method, path and canonical body: the same key with another request is a conflict.
  request_hash    bytea NOT NULL,
  state           text NOT NULL CHECK (state IN ('running', 'done')),
  response_status integer,
  response_body   text,
  response_type   text,
  created_at      timestamptz NOT NULL,
  -- A running request whose node died is taken over once this has passed.
  locked_until    timestamptz NOT NULL,
  PRIMARY KEY (principal, key)
);

CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
