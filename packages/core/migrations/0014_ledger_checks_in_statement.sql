-- The ledger's write checks floors and accounts inside the statement that moves the
-- money, under the row locks that statement takes, instead of reading the accounts
-- under lock first. So a posting can sit inside another statement (a payment's change
-- of status) and cost no round trip of its own. These functions end such a statement
-- with an error the application turns into its catalog code; they return a value of
-- the column they stand in for, so they can be called where that value is computed.

-- A change that would take an account's available balance below its floor.
CREATE FUNCTION ledger_refuse(account text, currency text, spendable numeric, requested numeric)
RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'ledger account % cannot cover %', account, requested
    USING ERRCODE = 'RL001',
          DETAIL = json_build_object('account', account, 'currency', currency,
                                     'spendable', greatest(spendable, 0)::text, 'requested', requested::text)::text;
END $$;

-- An entry on an account that does not exist, or belongs to another operator.
CREATE FUNCTION ledger_unknown_account(account text)
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'ledger account % not found', account
    USING ERRCODE = 'RL002', DETAIL = json_build_object('account', account)::text;
END $$;

-- A change that would take a balance beyond bigint.
CREATE FUNCTION ledger_out_of_range(account text, currency text, change bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'ledger account % cannot take a change of %', account, change
    USING ERRCODE = 'RL003',
          DETAIL = json_build_object('account', account, 'currency', currency, 'change', abs(change::numeric)::text)::text;
END $$;

-- The zero-sum check at COMMIT, in one query instead of four: the entry count, the sum
-- per currency and the operators of the accounts, read together. Same rules, same
-- errors (see 0004).
CREATE OR REPLACE FUNCTION ledger_check_transfer(transfer text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  found_entries bigint;
  unbalanced_currency text;
  unbalanced_total numeric;
  touches_foreign boolean;
BEGIN
  SELECT coalesce(sum(per_currency.entries), 0),
         (array_agg(per_currency.currency) FILTER (WHERE per_currency.total <> 0))[1],
         (array_agg(per_currency.total) FILTER (WHERE per_currency.total <> 0))[1],
         coalesce(bool_or(per_currency.touches_foreign), false)
    INTO found_entries, unbalanced_currency, unbalanced_total, touches_foreign
    FROM (SELECT e.currency, count(*) AS entries, sum(e.amount) AS total,
                 -- A lookup per entry, by primary key: never a scan of all accounts.
                 bool_or((SELECT a.operator_id FROM ledger_accounts a WHERE a.id = e.account_id)
                         IS DISTINCT FROM t.operator_id) AS touches_foreign
            FROM ledger_entries e
            JOIN ledger_transfers t ON t.id = e.transfer_id
           WHERE e.transfer_id = transfer
           GROUP BY e.currency) per_currency;
  IF found_entries < 2 THEN
    RAISE EXCEPTION 'ledger transfer % has % entries; a transfer needs at least two', transfer, found_entries
      USING ERRCODE = 'check_violation';
  END IF;
  IF unbalanced_currency IS NOT NULL THEN
    RAISE EXCEPTION 'ledger transfer % does not balance: its % entries sum to %', transfer, unbalanced_currency,
      unbalanced_total USING ERRCODE = 'check_violation';
  END IF;
  IF touches_foreign THEN
    RAISE EXCEPTION 'ledger transfer % touches another operator''s account', transfer
      USING ERRCODE = 'check_violation';
  END IF;
END $$;
