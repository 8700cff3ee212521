-- A transfer's zero-sum check ran at COMMIT once for the transfer and once more for
-- each of its entries: three identical checks for a two-entry transfer. An entry
-- written in the same transaction as its transfer is covered by the transfer's own
-- check, which runs after every statement of the transaction; an entry added to a
-- transfer of an earlier transaction (or of a savepoint: another xid) is still checked
-- on its own.
CREATE OR REPLACE FUNCTION ledger_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM ledger_transfers
                  WHERE id = NEW.transfer_id AND xmin = pg_current_xact_id()::xid) THEN
    PERFORM ledger_check_transfer(NEW.transfer_id);
  END IF;
  RETURN NULL;
END $$;
