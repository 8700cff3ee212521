-- A pending hold's expiry may move later, never earlier: a hold securing a withdrawal
-- still on its way to the user is extended rather than released (the provider may yet
-- pay it out). Everything else about a hold stays fixed; its status still moves only
-- from pending, once.
CREATE OR REPLACE FUNCTION ledger_hold_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'ledger hold % cannot be deleted', OLD.id USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF OLD.status <> 'pending' THEN
    RAISE EXCEPTION 'ledger hold % is % and cannot change', OLD.id, OLD.status USING ERRCODE = 'check_violation';
  END IF;
  IF (NEW.id, NEW.operator_id, NEW.debit_account_id, NEW.credit_account_id, NEW.currency, NEW.amount, NEW.created_at)
     IS DISTINCT FROM
     (OLD.id, OLD.operator_id, OLD.debit_account_id, OLD.credit_account_id, OLD.currency, OLD.amount, OLD.created_at)
     OR NEW.expires_at < OLD.expires_at
     OR (NEW.expires_at <> OLD.expires_at AND NEW.status <> 'pending') THEN
    RAISE EXCEPTION 'ledger hold %: only its status may change, or its expiry move later', OLD.id
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;
