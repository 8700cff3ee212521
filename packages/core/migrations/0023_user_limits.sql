-- Each end user's own limits (responsible gambling), set by the operator: per action,
-- currency and rolling period (day, week, month), in minor units, with a loosening that
-- waits out the operator's delay. Read with the user on every payment, so kept on its
-- row; checked under the user's row lock in the transaction that records the payment.
-- `{}`: none. Safe while a deployment rolls, but nodes of the release before this one
-- do not enforce them.
ALTER TABLE end_users ADD COLUMN limits jsonb NOT NULL DEFAULT '{}';
