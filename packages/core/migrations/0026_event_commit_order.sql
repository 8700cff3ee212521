-- `GET /v1/events` pages in the order events became visible, not in id order. An id is
-- made when its event is recorded, but the event is seen only when its transaction
-- commits: a transaction still open with an earlier id would commit after a reader had
-- moved its cursor past a later one, and that event would never be read. Each event now
-- carries the id of its transaction (`txid`); a page holds only events whose
-- transactions are older than every transaction still running (so nothing can commit
-- before them any more), in (txid, id) order.
--
-- Events recorded before this keep NULL: they come first. Setting the default after
-- adding the column rewrites no rows. The index is built under a lock that holds event
-- writes back while it builds (with them, payments): on a large `events` table, plan
-- the upgrade for it.
ALTER TABLE events ADD COLUMN txid xid8;
ALTER TABLE events ALTER COLUMN txid SET DEFAULT pg_current_xact_id();
CREATE INDEX events_operator_commit_order ON events (operator_id, txid NULLS FIRST, id);
