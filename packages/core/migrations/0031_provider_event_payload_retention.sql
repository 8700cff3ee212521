-- A provider webhook's payload may be dropped once it has been applied and its
-- retention (RAMPART_PROVIDER_WEBHOOK_RETENTION_DAYS) has passed; its row stays, with
-- its event id, so that a redelivery of it, however late, is still a duplicate. Only
-- processed rows are ever emptied: every reader of `notice` reads unprocessed ones.
ALTER TABLE provider_events ALTER COLUMN notice DROP NOT NULL;
