-- Provider events are applied in the order they were recorded. `received_at` has
-- millisecond precision, so two webhooks of one burst could tie and be applied out of
-- order; a sequence cannot tie.
ALTER TABLE provider_events ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;
DROP INDEX provider_events_unprocessed;
CREATE INDEX provider_events_unprocessed ON provider_events (seq) WHERE processed_at IS NULL;
