-- Withdrawals held for the operator's manual review: its approval endpoint answered
-- "review" (or gave no answer, with `on_no_answer: review`). The payment stays
-- `created` with its hold in place; one row here per withdrawal under review, until the
-- operator approves or declines it, it is cancelled, or its review expires.
--
-- `sealed` is what the payout needs when it is approved and that the payment row does
-- not keep (the destination as given, the return URL): sealed with AES-256-GCM to this
-- payment, and deleted with the row when the review ends.
CREATE TABLE payment_reviews (
  payment_id  text PRIMARY KEY REFERENCES payments (id),
  operator_id text NOT NULL,
  expires_at  timestamptz NOT NULL,
  sealed      bytea NOT NULL,
  created_at  timestamptz NOT NULL
);
CREATE INDEX payment_reviews_expiry ON payment_reviews (expires_at);
CREATE INDEX payment_reviews_operator ON payment_reviews (operator_id, payment_id);
