-- UPGRADE: stop every node of the previous release before this runs (no rolling
-- deployment across it): earlier nodes would create operators and signing keys without
-- the columns below.
--
-- Test and live are two tenants of one operator. Every operator-scoped row (users and
-- their gates, settings, terms, events, webhook endpoints, payments, discrepancies,
-- idempotency keys, signing keys, ledger accounts) already belongs to one operator row,
-- so a test key that acts as the operator's test row cannot see or change anything live:
-- the isolation between operators, which every query enforces, is the isolation between
-- modes. `account_id` is the operator as its owner knows it (the live row's id); the test
-- row has its own id, never shown.
ALTER TABLE operators ADD COLUMN mode text NOT NULL DEFAULT 'live' CHECK (mode IN ('test', 'live'));
ALTER TABLE operators ADD COLUMN account_id text REFERENCES operators (id);
UPDATE operators SET account_id = id;
ALTER TABLE operators ALTER COLUMN mode DROP DEFAULT;
ALTER TABLE operators ALTER COLUMN account_id SET NOT NULL;
CREATE UNIQUE INDEX operators_account_mode ON operators (account_id, mode);
ALTER TABLE operators ADD CONSTRAINT operators_live_is_account CHECK ((mode = 'live') = (id = account_id));

-- Existing operators get their test row, with the same allowlists and settings but for
-- two that must not be shared: the wallet keys (one xpub's addresses go to one tenant)
-- and the approval URL (live's approver is not asked about test withdrawals). Their test
-- keys and signing keys move to it. Test-mode payments, sessions, users and events
-- recorded before this migration stay with the live row (no deployment predates it);
-- test sessions still open are ended, so none acts on a live user.
INSERT INTO operators (id, name, ip_allowlist, origin_allowlist, created_at, settings, mode, account_id)
SELECT id || '_test', name, ip_allowlist, origin_allowlist, created_at, settings - 'crypto_xpubs' - 'approval', 'test', id
  FROM operators;
UPDATE api_keys SET operator_id = operator_id || '_test' WHERE mode = 'test';
UPDATE operator_signing_keys SET operator_id = operator_id || '_test' WHERE mode = 'test';
UPDATE sessions SET status = 'expired', closed_at = now() WHERE mode = 'test' AND status = 'open';

-- A token's `iss` is the operator's public id and its kid says which key (so which mode)
-- signed it: a kid is unique across the operator's two modes.
ALTER TABLE operator_signing_keys ADD COLUMN account_id text;
UPDATE operator_signing_keys k SET account_id = o.account_id FROM operators o WHERE o.id = k.operator_id;
ALTER TABLE operator_signing_keys ALTER COLUMN account_id SET NOT NULL;
CREATE UNIQUE INDEX operator_signing_keys_account_kid ON operator_signing_keys (account_id, kid);

-- A row's mode is its tenant's: the database refuses a live key, payment or session
-- under a test row and the reverse. (NOT VALID: older test-mode payments and sessions
-- stayed with the live row above; every new row is checked.) Ledger accounts are not
-- held to it: a test payment in flight at the upgrade still books, on its completion,
-- into new test-mode accounts of the live row. New payments only make accounts of their
-- own tenant and mode.
ALTER TABLE operators ADD CONSTRAINT operators_id_mode UNIQUE (id, mode);
ALTER TABLE api_keys ADD CONSTRAINT api_keys_tenant_mode
  FOREIGN KEY (operator_id, mode) REFERENCES operators (id, mode);
ALTER TABLE operator_signing_keys ADD CONSTRAINT operator_signing_keys_tenant_mode
  FOREIGN KEY (operator_id, mode) REFERENCES operators (id, mode);
ALTER TABLE payments ADD CONSTRAINT payments_tenant_mode
  FOREIGN KEY (operator_id, mode) REFERENCES operators (id, mode) NOT VALID;
ALTER TABLE sessions ADD CONSTRAINT sessions_tenant_mode
  FOREIGN KEY (operator_id, mode) REFERENCES operators (id, mode) NOT VALID;
