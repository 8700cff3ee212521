-- Refunds: a refund is a payment of its own (kind 'refund'), paid out from the user's
-- balance back to the card of the deposit it refunds (`refund_of`), through that
-- deposit's provider. A deposit keeps `amount_refunded`, the sum of its completed
-- refunds, for display; what may still be refunded is decided under the deposit's row
-- lock from its refunds not failed or cancelled (`payments_refunds`).
--
-- Quick on a large table: a nullable and a constant-default column rewrite nothing, and
-- the reference and the checks are added NOT VALID: they hold for every row written from
-- now on, and every existing row has refund_of NULL and amount_refunded 0. The index
-- comes in the next migration, in its own transaction. Nodes of the earlier release know
-- no refunds: Rampart makes none while one of them is connected (see `Payments.refund`).
ALTER TABLE payments
  ADD COLUMN refund_of text,
  ADD COLUMN amount_refunded numeric(78, 0) NOT NULL DEFAULT 0;
ALTER TABLE payments ADD CONSTRAINT payments_refund_of_fkey
  FOREIGN KEY (refund_of) REFERENCES payments (id) NOT VALID;

DO $$
DECLARE
  name text;
BEGIN
  SELECT conname INTO name FROM pg_constraint
   WHERE conrelid = 'payments'::regclass AND contype = 'c'
     AND pg_get_constraintdef(oid) LIKE '%kind%deposit%withdrawal%buy%sell%';
  IF name IS NOT NULL THEN
    EXECUTE format('ALTER TABLE payments DROP CONSTRAINT %I', name);
  END IF;
END $$;
ALTER TABLE payments ADD CONSTRAINT payments_kind
  CHECK (kind IN ('deposit', 'withdrawal', 'buy', 'sell', 'refund')) NOT VALID;
ALTER TABLE payments ADD CONSTRAINT payments_refund_of
  CHECK ((kind = 'refund') = (refund_of IS NOT NULL)) NOT VALID;
ALTER TABLE payments ADD CONSTRAINT payments_amount_refunded
  CHECK (amount_refunded >= 0 AND amount_refunded <= amount) NOT VALID;
