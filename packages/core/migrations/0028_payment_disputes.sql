-- A card payment its cardholder disputed with their bank (a chargeback): the processor's
-- dispute as Rampart last heard of it, `{id, reason, status (open, won, lost), opened_at,
-- closed_at}`; NULL while there is none. A nullable column without a default: no rewrite,
-- safe while a deployment rolls (nodes of the earlier release ignore dispute webhooks).
ALTER TABLE payments ADD COLUMN dispute jsonb;
