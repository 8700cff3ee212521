-- Provider webhooks applied long ago are purged (`RAMPART_PROVIDER_EVENT_RETENTION`),
-- oldest first: an index on when they came, so a purge reads only what it deletes.
-- Built under a lock that holds webhook recording back while it builds: on a large
-- `provider_events` table, plan the upgrade for it.
CREATE INDEX provider_events_received ON provider_events (received_at);
