-- A posted entry records its account's posted balance right after it (`balance_after`),
-- so a user's statement shows each movement with the balance it left, a page at a time,
-- without summing history. The statement that writes entries sets it from the account
-- row it has locked (`writing` in ledger.ts); entries of holds (pending) have none.
--
-- Entries already written get theirs here, as the running sum of their account's
-- posted entries in id order: an entry's id is drawn after its account is locked, so id
-- order is the order in which the balance moved. This rewrites `ledger_entries` once,
-- under a lock that holds payments back while it runs: on a large ledger, plan the
-- upgrade for it. While a deployment rolls, nodes of the earlier release write entries
-- without it, and the trigger below fills it in from the locked account row.
ALTER TABLE ledger_entries ADD COLUMN balance_after minor_units;

ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only;
UPDATE ledger_entries e SET balance_after = r.running
  FROM (SELECT id, sum(amount) OVER (PARTITION BY account_id ORDER BY id) AS running
          FROM ledger_entries WHERE NOT pending) r
 WHERE e.id = r.id;
ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_append_only;

ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_balance_after CHECK (pending OR balance_after IS NOT NULL);

-- Only for entries written without it (by a node of the earlier release). Its account
-- row is locked by then, and the lock's wait ended with the other writer's commit, so a
-- fresh read sees the balance this entry moves; this statement's own change to it is not
-- visible yet.
CREATE FUNCTION ledger_entry_balance_after() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.balance_after := (SELECT posted FROM ledger_accounts WHERE id = NEW.account_id) + NEW.amount;
  RETURN NEW;
END $$;

CREATE TRIGGER ledger_entries_balance_after
  BEFORE INSERT ON ledger_entries
  FOR EACH ROW WHEN (NOT NEW.pending AND NEW.balance_after IS NULL)
  EXECUTE FUNCTION ledger_entry_balance_after();
