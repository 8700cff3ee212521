-- Cashier configuration of an operator (gates, jurisdictions, providers, TTLs);
-- validated and given defaults in code (settings/operator-settings.ts).
ALTER TABLE operators ADD COLUMN settings jsonb NOT NULL DEFAULT '{}';

-- End users, known by the operator's own user id.
CREATE TABLE end_users (
  operator_id             text NOT NULL REFERENCES operators (id),
  id                      text NOT NULL CHECK (length(id) BETWEEN 1 AND 128),
  email                   text,
  email_verified_at       timestamptz,
  phone                   text,
  phone_verified_at       timestamptz,
  first_name              text,
  last_name               text,
  country                 text,
  state                   text,
  date_of_birth           date,
  kyc_status              text NOT NULL DEFAULT 'not_started'
                          CHECK (kyc_status IN ('not_started', 'pending', 'verified', 'failed', 'reverification_required')),
  kyc_reason              text,
  kyc_provider            text,
  kyc_applicant_id        text,
  kyc_attested            boolean NOT NULL DEFAULT false,
  kyc_updated_at          timestamptz,
  terms_version           text,
  terms_accepted_at       timestamptz,
  blocked_at              timestamptz,
  blocked_reason          text,
  created_at              timestamptz NOT NULL,
  updated_at              timestamptz NOT NULL,
  PRIMARY KEY (operator_id, id)
);

CREATE UNIQUE INDEX end_users_kyc_applicant ON end_users (kyc_provider, kyc_applicant_id) WHERE kyc_applicant_id IS NOT NULL;

-- Versioned terms per operator; the newest is the one users must accept.
CREATE TABLE terms_versions (
  operator_id  text NOT NULL REFERENCES operators (id),
  version      text NOT NULL CHECK (length(version) BETWEEN 1 AND 64),
  url          text NOT NULL,
  published_at timestamptz NOT NULL,
  PRIMARY KEY (operator_id, version)
);

CREATE TABLE sessions (
  id                    text PRIMARY KEY,
  operator_id           text NOT NULL REFERENCES operators (id),
  user_id               text NOT NULL,
  mode                  text NOT NULL CHECK (mode IN ('test', 'live')),
  source                text NOT NULL CHECK (source IN ('server', 'operator_token')),
  operation             text NOT NULL CHECK (operation IN ('deposit', 'withdrawal', 'buy', 'sell')),
  currency              text,
  network               text,
  amount                text,
  locks                 jsonb NOT NULL DEFAULT '{}',
  redirect_url          text,
  language              text,
  theme                 text,
  client_ip             inet,
  status                text NOT NULL CHECK (status IN ('open', 'cancelled', 'expired', 'completed')),
  init_token_hash       bytea UNIQUE,
  init_token_expires_at timestamptz,
  init_token_used_at    timestamptz,
  expires_at            timestamptz NOT NULL,
  created_at            timestamptz NOT NULL,
  closed_at             timestamptz,
  FOREIGN KEY (operator_id, user_id) REFERENCES end_users (operator_id, id)
);

CREATE INDEX sessions_open_expiry ON sessions (expires_at) WHERE status = 'open';
CREATE INDEX sessions_user ON sessions (operator_id, user_id, created_at);

-- Ed25519 public keys operators sign their own session tokens with.
CREATE TABLE operator_signing_keys (
  operator_id text NOT NULL REFERENCES operators (id),
  kid         text NOT NULL CHECK (length(kid) BETWEEN 1 AND 128),
  -- Sessions from tokens signed with this key are in the mode of the API key that registered it.
  mode        text NOT NULL CHECK (mode IN ('test', 'live')),
  public_jwk  jsonb NOT NULL,
  created_at  timestamptz NOT NULL,
  revoked_at  timestamptz,
  PRIMARY KEY (operator_id, kid)
);

-- Every `jti` of an operator token, kept until the token could no longer be valid.
CREATE TABLE used_token_ids (
  operator_id text NOT NULL,
  jti         text NOT NULL,
  expires_at  timestamptz NOT NULL,
  PRIMARY KEY (operator_id, jti)
);

-- Email links and phone codes. Only hashes of the secrets are stored.
CREATE TABLE verification_challenges (
  id           text PRIMARY KEY,
  operator_id  text NOT NULL,
  user_id      text NOT NULL,
  channel      text NOT NULL CHECK (channel IN ('email', 'phone')),
  destination  text NOT NULL,
  secret_hash  bytea NOT NULL,
  attempts     integer NOT NULL DEFAULT 0,
  created_at   timestamptz NOT NULL,
  expires_at   timestamptz NOT NULL,
  consumed_at  timestamptz,
  FOREIGN KEY (operator_id, user_id) REFERENCES end_users (operator_id, id)
);

CREATE INDEX verification_challenges_user ON verification_challenges (operator_id, user_id, channel, created_at);

-- Development transport for mail and SMS: what would have been sent, for the CLI
-- and the dev page to show. Production uses a real mailer / SMS sender instead.
CREATE TABLE dev_outbox (
  id          text PRIMARY KEY,
  operator_id text NOT NULL,
  channel     text NOT NULL CHECK (channel IN ('email', 'sms')),
  destination text NOT NULL,
  subject     text,
  body        text NOT NULL,
  created_at  timestamptz NOT NULL
);
