CREATE TABLE operators (
  id               text PRIMARY KEY,
  name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  -- Client IPs allowed to use the secret keys; empty means any.
  ip_allowlist     cidr[] NOT NULL DEFAULT '{}',
  -- Browser origins allowed to call with this operator's credentials.
  origin_allowlist text[] NOT NULL DEFAULT '{}',
  created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
  id           text PRIMARY KEY,
  operator_id  text NOT NULL REFERENCES operators (id),
  mode         text NOT NULL CHECK (mode IN ('test', 'live')),
  scope        text NOT NULL CHECK (scope IN ('full', 'read_only')),
  -- SHA-256 of the secret. Secrets are 190 random bits, so a fast hash is enough;
  -- the plaintext is shown once at creation and never stored.
  secret_hash  bytea NOT NULL UNIQUE,
  -- Last four characters, so people can tell keys apart in listings.
  last4        text NOT NULL,
  description  text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  -- Set when the key is rotated: it keeps working until then.
  expires_at   timestamptz,
  revoked_at   timestamptz,
  replaced_by  text REFERENCES api_keys (id)
);

CREATE INDEX api_keys_operator ON api_keys (operator_id, created_at);
