-- A deposit's refunds, read under its lock whenever one is made or a dispute of it
-- arrives. Built in a transaction of its own: it holds writes to payments back (reads go
-- on) while it scans the table, briefly on most databases; on a large one, plan the
-- upgrade for it.
CREATE INDEX IF NOT EXISTS payments_refunds ON payments (refund_of) WHERE refund_of IS NOT NULL;
