-- Deposit addresses derived from an operator's extended public key (BIP32): one per
-- user, network and wallet key, so a user keeps their address. Public data only; no
-- private key ever lives in Rampart. A wallet key is identified by the SHA-256 of its
-- xpub, so rotating the xpub starts a new, gap-free series of indexes at 0.

-- The next derivation index per operator, network and wallet key. Allocating takes
-- this row's lock for the rest of the transaction, so indexes are handed out one at
-- a time, and a rolled-back allocation gives its index back: no gaps, no duplicates.
CREATE TABLE deposit_address_indexes (
  operator_id  text NOT NULL REFERENCES operators (id),
  network      text NOT NULL,
  xpub_sha256  text NOT NULL CHECK (xpub_sha256 ~ '^[0-9a-f]{64}$'),
  next_index   integer NOT NULL DEFAULT 0 CHECK (next_index >= 0),
  PRIMARY KEY (operator_id, network, xpub_sha256)
);

CREATE TABLE deposit_addresses (
  operator_id       text NOT NULL,
  user_id           text NOT NULL,
  network           text NOT NULL,
  xpub_sha256       text NOT NULL,
  -- Non-hardened BIP32 child index: 0 .. 2^31 - 1.
  derivation_index  integer NOT NULL CHECK (derivation_index >= 0),
  address           text NOT NULL,
  created_at        timestamptz NOT NULL,
  PRIMARY KEY (operator_id, user_id, network, xpub_sha256),
  FOREIGN KEY (operator_id, user_id) REFERENCES end_users (operator_id, id),
  FOREIGN KEY (operator_id, network, xpub_sha256)
    REFERENCES deposit_address_indexes (operator_id, network, xpub_sha256),
  UNIQUE (operator_id, network, xpub_sha256, derivation_index),
  -- Funds arriving at an address on a network belong to exactly one user, across
  -- operators too (two operators registering the same xpub is refused here).
  CONSTRAINT deposit_addresses_address_unique UNIQUE (network, address)
);
