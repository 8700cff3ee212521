-- The operator's fee on each payment: `fee` in minor units (for the amount asked; for a
-- pay-in, set again from what arrived when it completes), and `fee_rule`, the rule in
-- force when the payment was made (fixed minor units and parts per million), so a later
-- change of the operator's fees never changes a payment already made. No rule: no fee.
-- Safe while a deployment rolls, but nodes of the earlier release charge no fees: set
-- fees once every node runs this release.
ALTER TABLE payments
  ADD COLUMN fee minor_units NOT NULL DEFAULT 0 CHECK (fee >= 0),
  ADD COLUMN fee_rule jsonb;
