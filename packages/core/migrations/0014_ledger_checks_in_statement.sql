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
