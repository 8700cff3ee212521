-- An address is owned on its chain by one user (0033). Rampart's allocation records the
-- owner itself, but a node of an earlier release, still running while a deployment rolls,
-- allocates per network and records no owner: it could hand a user's ERC20 address to
-- another user on ETHEREUM, and deposits to it could not be told apart. The database
-- records the owner of every address inserted, whichever release inserts it, and refuses
-- an address owned by someone else as the same unique violation an address taken on its
-- own network is (which every release answers as the wallet key being in use).
CREATE FUNCTION deposit_address_owned() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  owned_by record;
  on_chain text := CASE NEW.network WHEN 'BITCOIN' THEN 'bitcoin' WHEN 'TRC20' THEN 'tron' ELSE 'evm' END;
BEGIN
  INSERT INTO deposit_address_owners (chain, address, operator_id, user_id)
  VALUES (on_chain, NEW.address, NEW.operator_id, NEW.user_id)
  ON CONFLICT DO NOTHING;
  SELECT operator_id, user_id INTO owned_by FROM deposit_address_owners WHERE chain = on_chain AND address = NEW.address;
  IF owned_by.operator_id <> NEW.operator_id OR owned_by.user_id <> NEW.user_id THEN
    RAISE EXCEPTION 'address % is owned on its chain by another user', NEW.address
      USING ERRCODE = 'unique_violation', CONSTRAINT = 'deposit_addresses_address_unique', TABLE = 'deposit_addresses';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER deposit_addresses_owned BEFORE INSERT ON deposit_addresses
  FOR EACH ROW EXECUTE FUNCTION deposit_address_owned();
