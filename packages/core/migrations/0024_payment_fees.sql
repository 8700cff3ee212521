-- The operator's fee on each payment: `fee` in minor units (for the amount asked; for a
-- pay-in, set again from what arrived when it completes), and `fee_rule`, the rule in
-- force when the payment was made (fixed minor units and parts per million), so a later
-- change of the operator's fees never changes a payment already made. No rule: no fee.
-- Safe while a deployment rolls, but nodes of the earlier release charge no fees: set
-- fees once every node runs this release.
ALTER TABLE payments
  ADD COLUMN fee minor_units NOT NULL DEFAULT 0 CHECK (fee >= 0),
  ADD COLUMN fee_rule jsonb;

-- Every payment with a fee posts to its operator's fees account, so like a provider's
-- clearing account it is split into shards (owner_ref '#0' … '#15', picked by payment
-- id) that no single row lock serialises; the fees earned are their sum. Other system
-- accounts keep no owner. Added NOT VALID and validated after, so that checking the
-- existing rows does not hold writes back.
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
ALTER TABLE ledger_accounts VALIDATE CONSTRAINT ledger_accounts_owner;
