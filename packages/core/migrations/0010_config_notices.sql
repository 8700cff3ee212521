-- Every node caches API keys, operator settings and the current terms (they are read on
-- every request and change rarely). Any change to them, by the API, the CLI or by hand,
-- tells every node on commit to forget that operator's entries. The trigger's argument
-- names the column holding the operator id.
CREATE FUNCTION rampart_config_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  row_data jsonb := CASE TG_OP WHEN 'DELETE' THEN to_jsonb(OLD) ELSE to_jsonb(NEW) END;
BEGIN
  PERFORM pg_notify('rampart_config', row_data ->> TG_ARGV[0]);
  RETURN NULL;
END;
$$;

CREATE TRIGGER operators_config_changed AFTER UPDATE OR DELETE ON operators
  FOR EACH ROW EXECUTE FUNCTION rampart_config_changed('id');
CREATE TRIGGER api_keys_config_changed AFTER INSERT OR UPDATE OR DELETE ON api_keys
  FOR EACH ROW EXECUTE FUNCTION rampart_config_changed('operator_id');
CREATE TRIGGER terms_versions_config_changed AFTER INSERT OR UPDATE OR DELETE ON terms_versions
  FOR EACH ROW EXECUTE FUNCTION rampart_config_changed('operator_id');
