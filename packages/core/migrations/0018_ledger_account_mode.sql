-- Test and live money never meet: every ledger account belongs to one mode, and the
-- mode is part of its identity. Before this, a test-mode deposit or adjustment credited
-- the same user account a live withdrawal spends from. Accounts written before this
-- migration are taken as live (the conservative reading: no live balance disappears).
ALTER TABLE ledger_accounts ADD COLUMN mode text NOT NULL DEFAULT 'live' CHECK (mode IN ('test', 'live'));
ALTER TABLE ledger_accounts ALTER COLUMN mode DROP DEFAULT;

DROP INDEX ledger_accounts_identity;
CREATE UNIQUE INDEX ledger_accounts_identity
  ON ledger_accounts (operator_id, mode, kind, (coalesce(owner_ref, '')), currency, (coalesce(network, '')));
