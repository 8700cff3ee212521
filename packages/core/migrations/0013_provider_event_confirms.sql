-- What a payment notice would confirm: the payment (by the provider's reference) and
-- the status it reports, set only when the notice brings nothing else (see
-- `onlyConfirms`). A webhook that overtook the provider's answer is recorded before
-- the answer lands; once it has, the notice only confirms, and the applier settles
-- every such notice in one statement by joining on these two columns.
ALTER TABLE provider_events ADD COLUMN payment_ref text, ADD COLUMN confirms_status text;
