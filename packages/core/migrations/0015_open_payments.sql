-- Reconciliation looks every 30 s for payments still open (created, pending,
-- processing) and not touched for a while, oldest first. Without an index it read the
-- whole table each time: fine for a thousand payments, a full scan of millions later.
-- Open payments are a small, moving part of the table, so the index holds only them.
CREATE INDEX payments_open ON payments (updated_at) WHERE status IN ('created', 'pending', 'processing');
