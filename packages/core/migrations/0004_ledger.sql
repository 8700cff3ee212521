-- Double-entry ledger. Amounts are bigint minor units; an entry's amount is signed
-- (positive credits the account, negative debits it).
--
-- What the database itself guarantees, whatever the application does:
--   * every transfer has at least two entries and they sum to zero per currency,
--     all on accounts of the transfer's operator (deferred constraint triggers,
--     checked at COMMIT, so the entries of a transfer can be inserted in any order);
--   * an entry's currency is its account's currency (composite foreign key);
--   * transfers and entries are append-only: UPDATE, DELETE and TRUNCATE raise;
--   * a hold is posted at most once and a transfer reversed at most once (unique
--     indexes), a hold's status only leaves `pending`, once (trigger);
--   * pending balances never go negative (checks).
-- Balance floors are checked by the application under row locks, because a
-- correction (reverse with ignoreFloor) may legitimately take an account below it.

CREATE TABLE ledger_accounts (
  id              text PRIMARY KEY,
  operator_id     text NOT NULL REFERENCES operators (id),
  kind            text NOT NULL
                  CHECK (kind IN ('user', 'provider_clearing', 'fees', 'operator_settlement', 'suspense')),
  -- The end user id of a user account, the provider id of a clearing account.
  owner_ref       text CHECK (length(owner_ref) BETWEEN 1 AND 200),
  currency        text NOT NULL,
  network         text,
  -- Lowest allowed available balance; NULL: no floor.
  floor           bigint CHECK (floor <= 0),
  -- The balance, kept in the row so it is read in O(1): sum of posted entries, and the
  -- amounts reserved by pending holds on either side.
  posted          bigint NOT NULL DEFAULT 0,
  pending_debits  bigint NOT NULL DEFAULT 0 CHECK (pending_debits >= 0),
  pending_credits bigint NOT NULL DEFAULT 0 CHECK (pending_credits >= 0),
  created_at      timestamptz NOT NULL,
  CHECK ((kind IN ('user', 'provider_clearing')) = (owner_ref IS NOT NULL)),
  -- Target of the entries' composite foreign key.
  UNIQUE (id, currency)
);

-- One account per operator, kind, owner, currency and network.
CREATE UNIQUE INDEX ledger_accounts_identity
  ON ledger_accounts (operator_id, kind, (coalesce(owner_ref, '')), currency, (coalesce(network, '')));

CREATE TABLE ledger_transfers (
  id           text PRIMARY KEY,
  operator_id  text NOT NULL REFERENCES operators (id),
  kind         text NOT NULL CHECK (kind IN ('transfer', 'hold', 'hold_post', 'reversal')),
  reference    text CHECK (length(reference) BETWEEN 1 AND 255),
  hold_id      text REFERENCES ledger_transfers (id),
  reverses_id  text REFERENCES ledger_transfers (id),
  description  text,
  metadata     jsonb NOT NULL DEFAULT '{}',
  created_at   timestamptz NOT NULL,
  CHECK ((kind = 'hold_post') = (hold_id IS NOT NULL)),
  CHECK ((kind = 'reversal') = (reverses_id IS NOT NULL)),
  UNIQUE (operator_id, reference)
);

CREATE UNIQUE INDEX ledger_transfers_one_posting_per_hold ON ledger_transfers (hold_id) WHERE hold_id IS NOT NULL;
CREATE UNIQUE INDEX ledger_transfers_one_reversal ON ledger_transfers (reverses_id) WHERE reverses_id IS NOT NULL;

CREATE TABLE ledger_entries (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  transfer_id  text NOT NULL REFERENCES ledger_transfers (id),
  account_id   text NOT NULL,
  currency     text NOT NULL,
  amount       bigint NOT NULL CHECK (amount <> 0),
  -- Entries of a hold: they reserve, they are not part of the posted balance.
  pending      boolean NOT NULL,
  created_at   timestamptz NOT NULL,
  FOREIGN KEY (account_id, currency) REFERENCES ledger_accounts (id, currency),
  UNIQUE (transfer_id, account_id)
);

CREATE INDEX ledger_entries_account ON ledger_entries (account_id, id);

-- The lifecycle of a hold (a transfer of kind 'hold'). Kept apart so that transfers
-- and entries never change.
CREATE TABLE ledger_holds (
  id                 text PRIMARY KEY REFERENCES ledger_transfers (id),
  operator_id        text NOT NULL REFERENCES operators (id),
  debit_account_id   text NOT NULL REFERENCES ledger_accounts (id),
  credit_account_id  text NOT NULL REFERENCES ledger_accounts (id),
  currency           text NOT NULL,
  amount             bigint NOT NULL CHECK (amount > 0),
  status             text NOT NULL CHECK (status IN ('pending', 'posted', 'voided', 'expired')),
  expires_at         timestamptz NOT NULL,
  posted_amount      bigint CHECK (posted_amount > 0 AND posted_amount <= amount),
  resolved_at        timestamptz,
  created_at         timestamptz NOT NULL,
  CHECK (debit_account_id <> credit_account_id),
  CHECK ((status = 'pending') = (resolved_at IS NULL)),
  CHECK ((status = 'posted') = (posted_amount IS NOT NULL))
);

-- What the expiry sweep scans.
CREATE INDEX ledger_holds_expiry ON ledger_holds (expires_at, id) WHERE status = 'pending';

-- Zero-sum. Called at COMMIT for every new transfer and every new entry (an entry
-- added later to an old transfer is caught too).
CREATE FUNCTION ledger_check_transfer(transfer text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  owner text;
  entry_count bigint;
  unbalanced record;
BEGIN
  SELECT operator_id INTO owner FROM ledger_transfers WHERE id = transfer;
  SELECT count(*) INTO entry_count FROM ledger_entries WHERE transfer_id = transfer;
  IF entry_count < 2 THEN
    RAISE EXCEPTION 'ledger transfer % has % entries; a transfer needs at least two', transfer, entry_count
      USING ERRCODE = 'check_violation';
  END IF;
  SELECT e.currency, sum(e.amount) AS total INTO unbalanced
    FROM ledger_entries e WHERE e.transfer_id = transfer
   GROUP BY e.currency HAVING sum(e.amount) <> 0 LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'ledger transfer % does not balance: its % entries sum to %', transfer, unbalanced.currency,
      unbalanced.total USING ERRCODE = 'check_violation';
  END IF;
  IF EXISTS (SELECT 1 FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id
              WHERE e.transfer_id = transfer AND a.operator_id <> owner) THEN
    RAISE EXCEPTION 'ledger transfer % touches another operator''s account', transfer
      USING ERRCODE = 'check_violation';
  END IF;
END $$;

CREATE FUNCTION ledger_transfer_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM ledger_check_transfer(NEW.id);
  RETURN NULL;
END $$;

CREATE FUNCTION ledger_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM ledger_check_transfer(NEW.transfer_id);
  RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER ledger_transfers_balanced
  AFTER INSERT ON ledger_transfers DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION ledger_transfer_balanced();

CREATE CONSTRAINT TRIGGER ledger_entries_balanced
  AFTER INSERT ON ledger_entries DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION ledger_entry_balanced();

-- Append-only: corrections are new transfers (reversals), never edits.
CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % is not allowed; correct with a new transfer', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER ledger_transfers_append_only
  BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_transfers
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();

CREATE TRIGGER ledger_entries_append_only
  BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_entries
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();

-- A hold changes once, from pending to a final status, and nothing else about it changes.
CREATE FUNCTION ledger_hold_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'ledger hold % cannot be deleted', OLD.id USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF OLD.status <> 'pending' THEN
    RAISE EXCEPTION 'ledger hold % is % and cannot change', OLD.id, OLD.status USING ERRCODE = 'check_violation';
  END IF;
  IF (NEW.id, NEW.operator_id, NEW.debit_account_id, NEW.credit_account_id, NEW.currency, NEW.amount,
      NEW.expires_at, NEW.created_at)
     IS DISTINCT FROM
     (OLD.id, OLD.operator_id, OLD.debit_account_id, OLD.credit_account_id, OLD.currency, OLD.amount,
      OLD.expires_at, OLD.created_at) THEN
    RAISE EXCEPTION 'ledger hold %: only its status may change', OLD.id USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER ledger_holds_transition
  BEFORE UPDATE OR DELETE ON ledger_holds
  FOR EACH ROW EXECUTE FUNCTION ledger_hold_transition();
