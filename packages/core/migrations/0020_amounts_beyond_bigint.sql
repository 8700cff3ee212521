-- UPGRADE: stop every node of the previous release before this runs (no rolling
-- deployment across it). Nodes before it read int8 amounts as bigint but these numeric
-- columns as strings, and would fail or refuse the money they move. The column changes
-- rewrite the ledger and payments tables under an exclusive lock.
--
-- Amounts beyond bigint. Money was bigint minor units, at most 2^63 - 1: in wei (ETH has
-- 18 decimals) that is 9.22 ETH, so a deposit of 10 ETH, or a balance that grew past
-- 9.22 ETH, could not be held at all.
--
-- Every amount and balance is now `minor_units`: an integer of up to 78 digits
-- (numeric(78, 0)) within ±(2^256 - 1). 2^256 - 1 is the largest amount a token contract
-- can hold (uint256, 78 digits), so whatever a chain can send fits, in any asset, with its
-- real decimals; numeric(78, 0) is the narrowest numeric that holds it. One bound for
-- amounts and balances, kept by the database itself as bigint's range was (the domain's
-- check also keeps out NaN, which numeric allows). The application refuses an amount
-- above it when it is given (`invalid_amount`), and the ledger refuses a balance beyond it
-- inside the statement that moves the money (ledger_out_of_range, RL003, below) before the
-- domain would see it. Ids, counts and sequences stay bigint: they are not money.
CREATE DOMAIN minor_units AS numeric(78, 0)
  CHECK (VALUE BETWEEN -115792089237316195423570985008687907853269984665640564039457584007913129639935
                   AND 115792089237316195423570985008687907853269984665640564039457584007913129639935);

-- Each table is rewritten once, its other checks (sign, floor <= 0, posted_amount <=
-- amount) kept as they are. No index covers these columns.
ALTER TABLE ledger_accounts
  ALTER COLUMN floor TYPE minor_units,
  ALTER COLUMN posted TYPE minor_units,
  ALTER COLUMN pending_debits TYPE minor_units,
  ALTER COLUMN pending_credits TYPE minor_units;

ALTER TABLE ledger_entries ALTER COLUMN amount TYPE minor_units;

ALTER TABLE ledger_holds
  ALTER COLUMN amount TYPE minor_units,
  ALTER COLUMN posted_amount TYPE minor_units;

ALTER TABLE payments ALTER COLUMN amount TYPE minor_units;

-- The ledger's in-statement checks (0014) stand in for a balance column's value, so they
-- return what that column now holds. Their errors are unchanged.
DROP FUNCTION ledger_refuse(text, text, numeric, numeric);
DROP FUNCTION ledger_out_of_range(text, text, bigint);

-- A change that would take an account's available balance below its floor.
CREATE FUNCTION ledger_refuse(account text, currency text, spendable numeric, requested numeric)
RETURNS numeric LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'ledger account % cannot cover %', account, requested
    USING ERRCODE = 'RL001',
          DETAIL = json_build_object('account', account, 'currency', currency,
                                     'spendable', greatest(spendable, 0)::text, 'requested', requested::text)::text;
END $$;

-- A change that would take a balance beyond ±(2^256 - 1), the range of minor_units.
CREATE FUNCTION ledger_out_of_range(account text, currency text, change numeric)
RETURNS numeric LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'ledger account % cannot take a change of %', account, change
    USING ERRCODE = 'RL003',
          DETAIL = json_build_object('account', account, 'currency', currency, 'change', abs(change)::text)::text;
END $$;
