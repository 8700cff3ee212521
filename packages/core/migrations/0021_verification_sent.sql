-- A verification challenge opens its gate only once its message was sent. Its row is
-- written first (the email link names it), and until the operator's message endpoint
-- has taken the message, its code or link must not work: a send that failed, or is
-- still in flight, leaves a challenge nobody can confirm (and, as every challenge does,
-- it counts against the user's sends for the hour).
--
-- Rows written before this were sent, and a node of the previous release writes no
-- value and sends at once: both read as sent. This release writes NULL explicitly.
ALTER TABLE verification_challenges ADD COLUMN sent_at timestamptz DEFAULT now();
UPDATE verification_challenges SET sent_at = created_at;
