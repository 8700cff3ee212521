-- When the provider reached the KYC verdict last applied to the user (its applicant's
-- last change, as the provider says). A verdict fetched before a newer one was applied
-- (another node asked the provider first, then applied after) is older news: it is
-- not applied over it. Null: none applied yet, or the provider does not say.
ALTER TABLE end_users ADD COLUMN kyc_verdict_at timestamptz;
