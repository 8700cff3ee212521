-- The operator's fee on each payment: `fee` in minor units (for the amount asked; for a
-- pay-in, set again from what arrived when it completes), and `fee_rule`, the rule in
-- force when the payment was made (fixed minor units and parts per million), so a later
-- change of the operator's fees never changes a payment already made. No rule: no fee.
--
-- Safe while a deployment rolls, and quick on a large table: a plain column with a
-- constant default is added without rewriting the table (the `minor_units` domain, with
-- its check, would rewrite it), and the range check is added NOT VALID: it holds for
-- every row written from now on, and every existing row has the default, 0. Nodes of
-- the earlier release charge no fees: set fees once every node runs this release.
ALTER TABLE payments
  ADD COLUMN fee numeric(78, 0) NOT NULL DEFAULT 0,
  ADD COLUMN fee_rule jsonb;
ALTER TABLE payments ADD CONSTRAINT payments_fee_range
  CHECK (fee BETWEEN 0 AND 115792089237316195423570985008687907853269984665640564039457584007913129639935) NOT VALID;

-- Every payment with a fee posts to its operator's fees account, so like a provider's
-- clearing account it is split into shards (owner_ref '#0' … '#15', picked by payment
-- id) that no single row lock serialises; the fees earned are their sum. Other system
-- accounts keep no owner. The new check is added NOT VALID, so that no scan of the
-- accounts holds writes back: every existing row passed the stricter check it replaces.
DO $$
DECLARE
  name text;
BEGIN
  SELECT conname INTO name FROM pg_constraint
   WHERE conrelid = 'ledger_accounts'::regclass AND contype = 'c'
     AND pg_get_constraintdef(oid) LIKE '%provider_clearing%owner_ref IS NOT NULL%';
  IF name IS NOT NULL THEN
    EXECUTE format('ALTER TABLE ledger_accounts DROP CONSTRAINT %I', name);
  END IF;
END $$;
ALTER TABLE ledger_accounts ADD CONSTRAINT ledger_accounts_owner CHECK (
  CASE kind
    WHEN 'user' THEN owner_ref IS NOT NULL
    WHEN 'provider_clearing' THEN owner_ref IS NOT NULL
    WHEN 'fees' THEN owner_ref IS NULL OR owner_ref ~ '^#[0-9]{1,3}$'
    ELSE owner_ref IS NULL
  END) NOT VALID;
