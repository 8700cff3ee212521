-- Deposits, withdrawals, buys and sells: one resource, one state machine.
CREATE TABLE payments (
  id               text PRIMARY KEY,
  operator_id      text NOT NULL REFERENCES operators (id),
  mode             text NOT NULL CHECK (mode IN ('test', 'live')),
  user_id          text NOT NULL,
  session_id       text REFERENCES sessions (id),
  kind             text NOT NULL CHECK (kind IN ('deposit', 'withdrawal', 'buy', 'sell')),
  method           text NOT NULL CHECK (method IN ('bank', 'card', 'ach', 'crypto')),
  provider         text NOT NULL,
  status           text NOT NULL
                   CHECK (status IN ('created', 'pending', 'processing', 'completed', 'failed', 'cancelled', 'reversed')),
  currency         text NOT NULL,
  network          text,
  amount           bigint NOT NULL CHECK (amount > 0),
  -- The operator's own id for this payment, unique per operator when given.
  reference        text,
  -- The Idempotency-Key it was created with: a retry after a crash finds the payment here.
  idempotency_key  text,
  -- Withdrawal target (bank account, card, address) or deposit source details.
  destination      jsonb NOT NULL DEFAULT '{}',
  provider_ref     text,
  next_action      jsonb,
  failure_code     text,
  failure_message  text,
  hold_id          text,
  approval         jsonb,
  metadata         jsonb NOT NULL DEFAULT '{}',
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL,
  FOREIGN KEY (operator_id, user_id) REFERENCES end_users (operator_id, id)
);

CREATE UNIQUE INDEX payments_reference ON payments (operator_id, reference) WHERE reference IS NOT NULL;
CREATE UNIQUE INDEX payments_idempotency ON payments (operator_id, mode, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE UNIQUE INDEX payments_provider_ref ON payments (provider, provider_ref) WHERE provider_ref IS NOT NULL;
CREATE INDEX payments_operator_created ON payments (operator_id, id);
CREATE INDEX payments_user_recent ON payments (operator_id, user_id, kind, currency, created_at);
-- One withdrawal (or sell) in progress per user, enforced by the database itself.
CREATE UNIQUE INDEX payments_one_withdrawal_in_progress ON payments (operator_id, user_id)
  WHERE kind IN ('withdrawal', 'sell') AND status IN ('created', 'pending', 'processing');

-- The timeline: every transition, when and why.
CREATE TABLE payment_transitions (
  payment_id  text NOT NULL REFERENCES payments (id),
  seq         integer NOT NULL,
  from_status text,
  to_status   text NOT NULL,
  cause       text NOT NULL,
  data        jsonb NOT NULL DEFAULT '{}',
  at          timestamptz NOT NULL,
  PRIMARY KEY (payment_id, seq)
);
