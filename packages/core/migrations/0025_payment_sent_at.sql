-- When a payment was last handed towards its provider after it was made: by a retry
-- resuming it (its first request died), or by an approval after review. A cancel waits
-- while such a call may still be on its way (`payment_in_progress`), as it waits for a
-- create's own call; NULL: only its create sent it (see `created_at`). A plain nullable
-- column: no table rewrite, safe while a deployment rolls.
ALTER TABLE payments ADD COLUMN sent_at timestamptz;
