-- A provider contradicting how Rampart ended a payment: it says the money moved where
-- Rampart failed or cancelled the payment, or that it did not where Rampart completed
-- it. Rampart moves no money on such news (the ledger is only corrected on purpose);
-- it records the contradiction here, once per payment and reported status, and tells
-- the operator, who resolves it after looking.
CREATE TABLE payment_discrepancies (
  id               text PRIMARY KEY,
  operator_id      text NOT NULL REFERENCES operators (id),
  payment_id       text NOT NULL REFERENCES payments (id),
  provider         text NOT NULL,
  provider_ref     text,
  -- The payment's status when the news came, and what the provider said instead.
  recorded_status  text NOT NULL,
  reported_status  text NOT NULL,
  -- Where the news came from (a webhook and its event id, reconciliation).
  source           text NOT NULL,
  detected_at      timestamptz NOT NULL,
  resolved_at      timestamptz,
  resolution       text,
  CHECK ((resolved_at IS NULL) = (resolution IS NULL)),
  UNIQUE (payment_id, reported_status)
);

-- The operator's list, newest first (open or resolved: there are few of either).
CREATE INDEX payment_discrepancies_operator ON payment_discrepancies (operator_id, id);
