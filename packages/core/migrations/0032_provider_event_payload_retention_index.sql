-- The payloads retention may drop, oldest first: the purge reads nothing else. Built in
-- a transaction of its own: it holds writes to provider_events back (reads go on) while
-- it scans the table, briefly on most databases; on a large one, plan the upgrade for it.
CREATE INDEX IF NOT EXISTS provider_events_payloads ON provider_events (received_at) WHERE notice IS NOT NULL;
