-- Who owns an address on its chain. ETHEREUM, ERC20 and BEP20 addresses are one format:
-- one key gives one address string on each, and ETHEREUM and ERC20 are one blockchain.
-- An address a user was given on one of them is theirs on all (a user's series of
-- indexes is now one per chain, see DepositAddresses), and no other user, of this
-- operator or another, may be given it on any. Filled from the addresses handed out so
-- far, the earliest owner first.
CREATE TABLE deposit_address_owners (
  chain        text NOT NULL CHECK (chain IN ('bitcoin', 'evm', 'tron')),
  address      text NOT NULL,
  operator_id  text NOT NULL,
  user_id      text NOT NULL,
  PRIMARY KEY (chain, address)
);

INSERT INTO deposit_address_owners (chain, address, operator_id, user_id)
SELECT CASE network WHEN 'BITCOIN' THEN 'bitcoin' WHEN 'TRC20' THEN 'tron' ELSE 'evm' END,
       address, operator_id, user_id
  FROM deposit_addresses
 ORDER BY created_at
ON CONFLICT DO NOTHING;
