import type {
  CatalogEntry,
  ClientAction,
  DetailSpec,
  DetailType,
  ErrorType,
  SeedMapping,
  SeedSystem,
  Surface,
} from './types.ts';

/**
 * Every error Rampart can raise. Codes are public API: never rename, remove or reuse
 * one (test/fixtures/known-codes.json enforces this). Seed mappings record how each
 * compatible system spells the same condition, including its own HTTP status when it
 * differs from ours.
 */

type Definition = Omit<CatalogEntry, 'code'>;

interface Spec {
  readonly status: number;
  readonly type: ErrorType;
  readonly retryable: boolean;
  readonly action: ClientAction;
  readonly message: string;
  readonly description: string;
  readonly details?: Readonly<Record<string, DetailSpec>>;
  readonly seeds?: Readonly<Partial<Record<SeedSystem, readonly SeedMapping[]>>>;
  readonly surface?: Surface;
}

function define(spec: Spec): Definition {
  return { ...spec, details: spec.details ?? {}, seeds: spec.seeds ?? {}, surface: spec.surface ?? 'server' };
}

const req = (type: DetailType, description: string): DetailSpec => ({ type, description, required: true });
const opt = (type: DetailType, description: string): DetailSpec => ({ type, description });

/** A seed's code, with the status that system answers with when it documents one. */
function sc(code: string, status?: number): SeedMapping {
  return status === undefined ? { code } : { code, status };
}
/** ramp_v2 identifies a failure by its outer slug and its code together. */
const v2 = (slug: string, code: string, status: number): SeedMapping => ({ slug, code, status });
/** A condition the seed documents by HTTP status alone. */
const httpOnly = (status: number): SeedMapping => ({ status });
/** A condition signalled by an event, optionally alongside a code. */
function ev(event: string, code?: string): SeedMapping {
  return code === undefined ? { event } : { code, event };
}

// Shared detail shapes, so the same field means the same thing everywhere.
const field = req('string', 'Dotted path of the offending field in the request body.');
const provided = req('any', 'The value the request sent, echoed as received.');
const expected = req('string', 'What the field must be, in words or as a bound.');
const currency = req('string', 'ISO 4217 or asset code, upper case.');
const provider = req('string', 'Payment provider or upstream service identifier.');
const reasonCode = req('integer', "The operator's numeric decline reason (1-9).");
const returnCode = req('string', 'NACHA return code, e.g. R01.');
const paymentId = req('string', 'The returned payment.');

// Seed spellings used by several entries.
const v1InvalidRequest = sc('invalid_request', 400);
const v2Validation = v2('invalid_request', 'validation_error', 400);
const v1Unauthorized = sc('unauthorized', 401);
const v2InvalidToken = v2('unauthorised', 'invalid_token', 401);
const v2NotFound = v2('not_found', 'not_found', 404);
const v2Upstream = v2('upstream_unavailable', 'upstream_unavailable', 502);
const achReturned = (code?: string): SeedMapping => ev('ach.returned', code);

const requestErrors = {
  validation_error: define({
    status: 400,
    type: 'invalid_request',
    retryable: false,
    action: 'fix_request',
    message: 'The request is invalid; see details.issues.',
    description: 'The body or query failed schema validation; every problem is listed, not just the first.',
    details: { issues: req('array', 'Each problem as {field, message}; field is a dotted path.') },
    seeds: { ramp_v1: [v1InvalidRequest], ramp_v2: [v2Validation], card_ach_api: [httpOnly(400)] },
  }),
  body_undecodable: define({
    status: 400,
    type: 'invalid_request',
    retryable: false,
    action: 'fix_request',
    message: 'The request body could not be decoded.',
    description: 'The body is not valid JSON (or not valid for its Content-Type), so nothing could be validated.',
    seeds: {
      ramp_v1: [v1InvalidRequest],
      ramp_v2: [v2('invalid_request', 'decode_error', 400)],
      card_ach_api: [httpOnly(400)],
    },
  }),
  missing_parameter: define({
    status: 400,
    type: 'invalid_request',
    retryable: false,
    action: 'fix_request',
    message: 'Missing required parameter {field}.',
    description: 'A required field is absent from the body, query or path.',
    details: { field },
    seeds: {
      ramp_v1: [v1InvalidRequest],
      ramp_v2: [v2('invalid_request', 'missing_param', 400)],
      card_ach_api: [httpOnly(400)],
    },
  }),
  unsupported_media_type: define({
    status: 415,
    type: 'invalid_request',
    retryable: false,
    action: 'fix_request',
    message: 'Content type {content_type} is not supported; send application/json.',
    description: 'The request has a body whose Content-Type the API does not accept.',
    details: { content_type: req('string', 'The Content-Type the request sent, or "none".') },
  }),
  body_too_large: define({
    status: 413,
    type: 'invalid_request',
    retryable: false,
    action: 'fix_request',
    message: 'The request body exceeds {limit_bytes} bytes.',
    description: 'The body is larger than the configured limit and was not read.',
    details: { limit_bytes: req('integer', 'The largest body accepted, in bytes.') },
  }),
  route_not_found: define({
    status: 404,
    type: 'not_found',
    retryable: false,
    action: 'fix_request',
    message: 'No route matches {method} {path}.',
    description: 'The path does not exist in this API version.',
    details: { method: req('string', 'HTTP method of the request.'), path: req('string', 'Path of the request.') },
  }),
  method_not_allowed: define({
    status: 405,
    type: 'invalid_request',
    retryable: false,
    action: 'fix_request',
    message: 'Method {method} is not allowed on this route.',
    description: 'The path exists but not for this HTTP method; the Allow header lists the ones that do.',
    details: {
      method: req('string', 'HTTP method of the request.'),
      allowed: req('array', 'Methods the route accepts.'),
    },
  }),
  invalid_amount: define({
    status: 422,
    type: 'invalid_request',
    retryable: false,
    action: 'fix_request',
    message: '{field} is not a valid amount; expected {expected}.',
    description:
      'An amount is malformed (negative, zero, non-integer minor units, too many decimals), or beyond the most Rampart holds: 2^256 - 1 minor units, for an amount or for the balance it would leave.',
    details: { field, provided, expected },
    seeds: { ramp_v1: [v1InvalidRequest], ramp_v2: [v2Validation], card_ach_api: [sc('invalid_amount', 422)] },
  }),
  invalid_value: define({
    status: 422,
    type: 'invalid_request',
    retryable: false,
    action: 'fix_request',
    message: '{field} has an invalid value; expected {expected}.',
    description: 'A field is well-formed but its value is not acceptable (unknown enum member, past date, ...).',
    details: { field, provided, expected },
    seeds: { ramp_v1: [v1InvalidRequest], ramp_v2: [v2Validation], card_ach_api: [httpOnly(422)] },
  }),
  currency_not_enabled: define({
    status: 400,
    type: 'invalid_request',
    retryable: false,
    action: 'fix_request',
    message: 'Currency {currency} is not enabled for this integration.',
    description: 'The currency exists but the operator has not enabled it.',
    details: { currency },
    seeds: {
      ramp_v1: [sc('unsupported_currency', 400)],
      ramp_v2: [v2('invalid_request', 'currency_not_allowed', 400)],
    },
  }),
  wallet_not_supported: define({
    status: 400,
    type: 'invalid_request',
    retryable: false,
    action: 'fix_request',
    message: 'No active wallet for {currency} on {network}.',
    description: 'The currency is enabled but no wallet is provisioned for this currency and network pair.',
    details: { currency, network: req('string', 'Blockchain network, e.g. TRC20.') },
    seeds: {
      ramp_v1: [sc('unsupported_currency', 400)],
      ramp_v2: [v2('wallet_not_supported', 'WALLET_NOT_SUPPORTED', 400)],
    },
  }),
  amount_below_minimum: define({
    status: 422,
    type: 'invalid_request',
    retryable: false,
    action: 'fix_request',
    message: '{field} is below the minimum of {expected} {currency}.',
    description: 'The amount is valid but under the configured minimum for this operation.',
    details: { field, provided, expected, currency },
    seeds: { igaming_cashier: [sc('AMOUNT_BELOW_MINIMUM', 400)], card_ach_api: [httpOnly(422)] },
  }),
  amount_above_maximum: define({
    status: 422,
    type: 'invalid_request',
    retryable: false,
    action: 'fix_request',
    message: '{field} is above the maximum of {expected} {currency}.',
    description: 'The amount is valid but over the configured maximum for this operation.',
    details: { field, provided, expected, currency },
    seeds: { igaming_cashier: [sc('AMOUNT_ABOVE_MAXIMUM', 400)], card_ach_api: [httpOnly(422)] },
  }),
  user_limit_exceeded: define({
    status: 422,
    type: 'declined',
    retryable: false,
    action: 'fix_request',
    message: 'This would exceed the limit of {limit} {currency} per {period} set for this user.',
    description:
      "The amount plus what the user's payments of this kind came to in the rolling period would pass a limit set for this user (`PATCH /v1/users/{id}/limits`); a smaller amount may fit.",
    details: {
      action: req('string', 'deposit, withdrawal, buy or sell.'),
      period: req('string', 'day (24 hours), week (7 days) or month (30 days), rolling.'),
      limit: req('string', 'The limit, in the currency.'),
      used: req('string', 'Amount already used in the period.'),
      currency,
      requested: req('string', 'Amount of this request.'),
    },
  }),
  daily_limit_exceeded: define({
    status: 422,
    type: 'declined',
    retryable: false,
    action: 'fix_request',
    message: 'This would exceed the daily limit of {limit} {currency}.',
    description: "The amount plus today's total would pass the user's daily limit; a smaller amount may fit.",
    details: {
      limit: req('string', 'The daily limit, in the currency.'),
      used: req('string', 'Amount already used today.'),
      currency,
      requested: req('string', 'Amount of this request.'),
    },
    seeds: { igaming_cashier: [sc('DAILY_LIMIT_EXCEEDED', 400)] },
  }),
  resource_exists: define({
    status: 409,
    type: 'conflict',
    retryable: false,
    action: 'fix_request',
    message: 'This resource already exists.',
    description: 'A create request names an identifier that is already taken.',
    details: { resource: opt('string', 'Kind of resource, e.g. customer.') },
    seeds: { card_ach_api: [httpOnly(409)] },
  }),
} as const;

const tokenSeeds = {
  ramp_v1: [v1Unauthorized],
  ramp_v2: [v2InvalidToken],
  card_ach_api: [httpOnly(401)],
  igaming_cashier: [httpOnly(401)],
} as const;

const authErrors = {
  missing_token: define({
    status: 401,
    type: 'authentication',
    retryable: false,
    action: 'check_credentials',
    message: 'An Authorization: Bearer token is required.',
    description: 'The request has no Authorization header or it is not a Bearer token.',
    seeds: { ...tokenSeeds, ramp_v2: [v2('unauthorised', 'missing_token', 401)] },
  }),
  invalid_token: define({
    status: 401,
    type: 'authentication',
    retryable: false,
    action: 'check_credentials',
    message: 'The token is not valid.',
    description: 'The token is malformed or matches no known key.',
    seeds: tokenSeeds,
  }),
  token_revoked: define({
    status: 401,
    type: 'authentication',
    retryable: false,
    action: 'check_credentials',
    message: 'The token has been revoked.',
    description: 'The key was explicitly revoked, for example after a suspected leak.',
    seeds: tokenSeeds,
  }),
  token_expired: define({
    status: 401,
    type: 'authentication',
    retryable: false,
    action: 'check_credentials',
    message: 'The token has expired; use the current key.',
    description: 'The key was rotated and its overlap window with the new key has ended.',
    seeds: tokenSeeds,
  }),
  ip_not_allowed: define({
    status: 403,
    type: 'permission',
    retryable: false,
    action: 'register_ip',
    message: 'Requests from {ip} are not allowed for this key.',
    description: "The caller's IP address is not on the key's allowlist.",
    details: { ip: req('string', 'The IP address the request came from.') },
    seeds: { ramp_v2: [v2('forbidden', 'forbidden_origin', 403)] },
  }),
  origin_not_allowed: define({
    status: 403,
    type: 'permission',
    retryable: false,
    action: 'register_origin',
    message: 'Origin {origin} is not allowed.',
    description: "The browser Origin is not on the integration's allowlist (localhost needs its port too).",
    details: { origin: req('string', 'The Origin header of the request.') },
    seeds: {
      ramp_v1: [sc('forbidden_origin', 403)],
      ramp_v2: [v2('forbidden', 'forbidden_origin', 403)],
      prediction_embed: [sc('ORIGIN_UNAUTHORIZED', 403)],
    },
  }),
  insufficient_scope: define({
    status: 403,
    type: 'permission',
    retryable: false,
    action: 'check_credentials',
    message: 'This key has scope {key_scope}; {required_scope} is required.',
    description: 'The key is valid but not allowed to perform this operation.',
    details: {
      required_scope: req('string', 'Scope the operation needs.'),
      key_scope: req('string', 'Scope the presented key has.'),
    },
    seeds: { card_ach_api: [httpOnly(403)] },
  }),
  offramp_not_enabled: define({
    status: 403,
    type: 'permission',
    retryable: false,
    action: 'contact_operator',
    message: 'Off-ramp is not enabled for this integration.',
    description: 'Withdrawals to crypto are switched off for this integration.',
    seeds: { ramp_v1: [sc('offramp_disabled', 403)] },
  }),
} as const;

const sessionErrors = {
  session_not_found: define({
    status: 404,
    type: 'not_found',
    retryable: false,
    action: 'new_session',
    message: 'Session not found.',
    description: 'No session has this id, or it belongs to another integration.',
    seeds: { igaming_cashier: [sc('SESSION_NOT_FOUND', 404)] },
  }),
  session_expired: define({
    status: 401,
    type: 'authentication',
    retryable: true,
    action: 'refresh_token',
    message: 'The session has expired; refresh the token.',
    description:
      'The session token is past its expiry while the session itself is still open; a fresh token continues the same flow.',
    seeds: {
      prediction_embed: [ev('PROPHETX_SESSION_EXPIRED', 'SESSION_EXPIRED')],
    },
  }),
  session_ttl_expired: define({
    status: 409,
    type: 'invalid_state',
    retryable: false,
    action: 'new_session',
    message: 'The session, or its init token, has passed its lifetime; create a new session.',
    description:
      'The session (or its init token, after one hour) is past its lifetime. No token revives it: start a new session.',
    details: {
      reason: req('string', 'session_ttl (the session) or init_token_expired (its init token).'),
      session_id: req('string', 'The session.'),
    },
    seeds: {
      igaming_cashier: [sc('SESSION_EXPIRED', 400)],
      ramp_v1: [sc('session_already_used', 409)],
    },
  }),
  session_not_open: define({
    status: 409,
    type: 'invalid_state',
    retryable: false,
    action: 'new_session',
    message: 'The session is {status} and can no longer be used.',
    description: 'The session was cancelled or finished; start a new one.',
    details: { status: req('string', 'Current session status.') },
    seeds: { igaming_cashier: [sc('SESSION_NOT_OPEN', 400)] },
  }),
  init_token_used: define({
    status: 409,
    type: 'conflict',
    retryable: false,
    action: 'new_session',
    message: 'This init token has already been used; request a new session.',
    description: 'Init tokens are single-use; each widget launch needs a fresh session.',
    seeds: { ramp_v1: [sc('session_already_used', 409)] },
  }),
  session_invalid: define({
    status: 401,
    type: 'authentication',
    retryable: false,
    action: 'check_credentials',
    message: 'The session token is invalid.',
    description:
      'The session token is malformed, badly signed, from an unknown issuer or otherwise rejected; retrying the same token cannot help.',
    details: { reason: req('string', 'Why validation failed, e.g. bad_signature, unknown_issuer, malformed.') },
    seeds: { prediction_embed: [sc('SESSION_INVALID', 401)] },
  }),
} as const;

/** User gates are all 403 and need the user (not the integration) to act. */
function gate(spec: Omit<Spec, 'status' | 'type' | 'retryable' | 'action'> & { action?: ClientAction }): Definition {
  return define({ status: 403, type: 'compliance', retryable: false, action: 'complete_user_step', ...spec });
}

const userErrors = {
  kyc_required: gate({
    message: 'Identity verification is required.',
    description: 'The user must pass KYC before this payment; send them to kyc_url.',
    details: { kyc_url: req('string', 'Where the user completes verification.') },
    seeds: {
      ramp_v1: [sc('kyc_required', 422)],
      prediction_embed: [sc('KYC_REQUIRED', 403)],
      card_ach_api: [sc('kyc_required', 451)],
    },
  }),
  kyc_not_started: gate({
    message: 'Identity verification has not been started.',
    description: 'The user has never begun KYC; send them to kyc_url.',
    details: { kyc_url: req('string', 'Where the user starts verification.') },
    seeds: { prediction_embed: [sc('KYC_NOT_STARTED')] },
  }),
  kyc_pending: gate({
    action: 'wait_for_completion',
    message: 'Identity verification is still in review.',
    description: 'The user submitted KYC and a decision is pending; retry once it is approved.',
    seeds: { prediction_embed: [ev('PROPHETX_KYC_PENDING')] },
  }),
  kyc_failed: gate({
    message: 'Identity verification was rejected.',
    description: 'The KYC provider rejected the user.',
    details: { reason: req('string', "The provider's rejection reason.") },
    seeds: { prediction_embed: [ev('PROPHETX_KYC_FAILED')] },
  }),
  reverification_required: gate({
    message: 'Additional identity verification is required.',
    description: 'Risk signals require the user to verify again; send them to verification_url.',
    details: { verification_url: req('string', 'Where the user re-verifies.') },
    seeds: { card_ach_api: [httpOnly(428)] },
  }),
  customer_blocked: gate({
    action: 'contact_support',
    message: 'This customer is blocked from making payments.',
    description: 'Fraud controls blocked the customer; do not retry automatically.',
    details: { reason: opt('string', 'Block reason, when it may be disclosed.') },
    seeds: { card_ach_api: [sc('customer_blocked', 423)] },
  }),
  terms_not_accepted: gate({
    message: 'The current terms ({terms_version}) have not been accepted.',
    description: 'The user must accept the current terms before transacting.',
    details: { terms_version: req('string', 'Version of the terms to accept.') },
    seeds: { prediction_embed: [sc('TERMS_NOT_SIGNED')] },
  }),
  email_not_verified: gate({
    message: 'The email address has not been verified.',
    description: "The user's email address is unverified.",
    seeds: { prediction_embed: [sc('EMAIL_NOT_VERIFIED')] },
  }),
  phone_not_verified: gate({
    message: 'The phone number has not been verified.',
    description: "The user's phone number is unverified.",
    seeds: { prediction_embed: [sc('PHONE_NOT_VERIFIED')] },
  }),
  action_not_permitted: gate({
    action: 'do_not_retry',
    message: 'Action {action} is not permitted for this user.',
    description: 'The user lacks the permission for this action; show denyReason when present.',
    details: {
      action: req('string', 'The attempted action, e.g. deposit or withdraw.'),
      provider: opt('string', 'Provider the action was attempted with.'),
      denyReason: opt('string', 'Human-readable reason the permission is refused.'),
    },
    seeds: { prediction_embed: [sc('ACTION_NOT_PERMITTED')] },
  }),
  geofence_blocked: gate({
    // The user cannot fix their location, so there is no step to complete.
    action: 'do_not_retry',
    message: "Payments are not available in the user's location.",
    description: 'The user is in a jurisdiction where transactions are not permitted.',
    details: {
      country: req('string', 'ISO 3166-1 alpha-2 country code.'),
      stateCode: opt('string', 'State or region code, when known.'),
      reason: opt('string', 'Why the location is restricted.'),
    },
    seeds: { prediction_embed: [ev('PROPHETX_GEOFENCE_BLOCKED', 'GEOFENCE_BLOCKED')] },
  }),
  user_not_found: define({
    status: 404,
    type: 'not_found',
    retryable: false,
    action: 'fix_request',
    message: 'User not found.',
    description: 'No user has this id, or it belongs to another integration.',
    seeds: { ramp_v2: [v2NotFound] },
  }),
  resource_not_found: define({
    status: 404,
    type: 'not_found',
    retryable: false,
    action: 'fix_request',
    message: '{resource} not found.',
    description: 'The referenced resource (wallet, customer, ...) does not exist or is not yours.',
    details: { resource: req('string', 'Kind of resource, e.g. wallet.') },
    seeds: { ramp_v2: [v2NotFound], card_ach_api: [httpOnly(404)] },
  }),
} as const;

const paymentErrors = {
  payment_not_found: define({
    status: 404,
    type: 'not_found',
    retryable: false,
    action: 'fix_request',
    message: 'Payment not found.',
    description: 'No payment has this id, or it belongs to another integration.',
    seeds: { ramp_v1: [sc('transaction_not_found', 404)], ramp_v2: [v2NotFound], card_ach_api: [httpOnly(404)] },
  }),
  idempotency_conflict: define({
    status: 409,
    type: 'conflict',
    retryable: false,
    action: 'fix_request',
    message: 'This Idempotency-Key was already used with a different request.',
    description: 'The key was reused with a different body; use a new key for a new request.',
    seeds: { card_ach_api: [httpOnly(409)] },
  }),
  idempotency_in_progress: define({
    status: 409,
    type: 'conflict',
    retryable: true,
    action: 'retry_with_backoff',
    message: 'A request with this Idempotency-Key is still in progress.',
    description:
      'The first request with this key has not finished; retry later to get its result. If the server running it died, the key is freed within one lease (RAMPART_IDEMPOTENCY_LEASE_SECONDS) and the retry finishes its work.',
    seeds: { card_ach_api: [httpOnly(409)] },
  }),
  illegal_state_transition: define({
    status: 412,
    type: 'invalid_state',
    retryable: false,
    action: 'do_not_retry',
    message: 'Cannot move from {from} to {to}.',
    description: "The requested change is not allowed from the payment's current status.",
    details: { from: req('string', 'Current status.'), to: req('string', 'Requested status.') },
    seeds: { card_ach_api: [httpOnly(412)] },
  }),
  payment_in_progress: define({
    status: 409,
    type: 'conflict',
    retryable: true,
    action: 'retry_with_backoff',
    message: 'The payment is being sent to its provider; retry in a moment.',
    description:
      'A payment is cancelled only once it is known whether its provider has it; while its create is still calling the provider, that is not yet known. Retry shortly: the cancel then goes to the provider, or answers what the payment became.',
    details: { payment_id: req('string', 'The payment.') },
  }),
  withdrawal_not_in_review: define({
    status: 409,
    type: 'conflict',
    retryable: false,
    action: 'do_not_retry',
    message: 'The withdrawal is not awaiting review.',
    description:
      'Only a withdrawal your approval endpoint (or its no-answer default) put to review can be approved or declined by hand, and only once: it was decided, cancelled or expired already, or never went to review.',
    details: { payment_id: req('string', 'The payment.'), status: req('string', 'Its current status.') },
  }),
  withdrawal_in_progress: define({
    status: 409,
    type: 'conflict',
    retryable: false,
    action: 'wait_for_completion',
    message: 'A withdrawal is already in progress for this session.',
    description: 'Only one withdrawal per session may be pending or processing at a time.',
    seeds: { igaming_cashier: [sc('WITHDRAW_IN_PROGRESS', 400)] },
  }),
  insufficient_balance: define({
    status: 402,
    type: 'declined',
    retryable: false,
    action: 'fix_request',
    message: 'Insufficient balance: {available} {currency} available, {requested} requested.',
    description: 'The balance does not cover the amount.',
    details: {
      available: req('string', 'Balance available.'),
      requested: req('string', 'Amount requested.'),
      currency,
    },
    seeds: { igaming_cashier: [sc('INSUFFICIENT_BALANCE', 400)] },
  }),
  payment_declined: define({
    status: 402,
    type: 'declined',
    retryable: false,
    action: 'do_not_retry',
    message: 'The payment was declined.',
    description: 'The provider or issuer refused the payment (card declined, 3-D Secure failed, ...).',
    details: { reason: req('string', 'Decline reason reported by the provider.') },
  }),
  deposit_failed: define({
    status: 402,
    type: 'declined',
    retryable: true,
    action: 'retry',
    message: 'The deposit could not be completed.',
    description: 'The deposit was rejected while being initiated or submitted; the user may try again.',
    seeds: { prediction_embed: [sc('DEPOSIT_FAILED')], ramp_v1: [ev('order_failed')] },
  }),
  deposit_not_completed: define({
    status: 409,
    type: 'invalid_state',
    retryable: false,
    action: 'wait_for_completion',
    message: 'The deposit has not completed yet; do not retry, it may still complete.',
    description: 'The deposit was submitted but is not final; retrying risks a duplicate deposit.',
    seeds: { prediction_embed: [sc('DEPOSIT_NOT_COMPLETED')] },
  }),
  withdrawal_failed: define({
    status: 402,
    type: 'declined',
    retryable: true,
    action: 'retry',
    message: 'The withdrawal could not be completed.',
    description: 'The withdrawal was rejected while being processed; the user may try again.',
    seeds: { prediction_embed: [sc('WITHDRAWAL_FAILED')] },
  }),
  provider_error: define({
    status: 502,
    type: 'upstream',
    retryable: true,
    action: 'retry',
    message: 'Payment provider {provider} returned an error.',
    description: 'A payment provider failed during the payment flow; the same or another method may work.',
    details: { provider, provider_code: opt('string', "The provider's own error code.") },
    seeds: {
      prediction_embed: [sc('TRUSTLY_PROVIDER_ERROR'), sc('ZEROHASH_PROVIDER_ERROR')],
      ramp_v2: [v2('upstream_error', 'provider_error', 502)],
    },
  }),
  provider_load_failed: define({
    status: 502,
    type: 'client',
    retryable: true,
    action: 'retry',
    surface: 'client',
    message: 'Payment provider {provider} failed to load.',
    description: "A provider's browser SDK could not be loaded, usually a network or CDN problem on the user's side.",
    details: {
      provider,
      reason: opt(
        'string',
        'How loading failed: `script_error` (the script could not be fetched or was refused), `no_global` (it ran but did not define the SDK), `timeout` (it did not load in time).',
      ),
    },
    seeds: { prediction_embed: [sc('TRUSTLY_LOAD_FAILED')] },
  }),
} as const;

/**
 * Withdrawal declines returned by the operator's approval webhook. Final, except where
 * the operator's reason is temporary: then the user may try again later (a new request;
 * the declined one moved no money).
 */
function decline(
  action: ClientAction,
  message: string,
  description: string,
  seedCode: string,
  temporary = false,
): Definition {
  return define({
    status: 402,
    type: 'declined',
    retryable: temporary,
    action,
    message,
    description,
    details: { reason_code: reasonCode },
    seeds: { igaming_cashier: [sc(seedCode, 400)] },
  });
}

const operatorDeclineErrors = {
  withdrawal_declined: decline(
    'do_not_retry',
    'The operator declined this withdrawal.',
    'Generic decline; also used when the operator gives no or an unknown reason.',
    'WITHDRAW_DECLINED',
  ),
  withdrawal_insufficient_balance: decline(
    'fix_request',
    'The balance does not cover this withdrawal.',
    'The operator reports the user lacks the balance for the amount.',
    'INSUFFICIENT_BALANCE',
  ),
  withdrawal_unavailable: decline(
    'retry',
    'Withdrawals are temporarily unavailable.',
    'The operator has paused withdrawals for everyone, or gave no usable answer in time (the default decline). Temporary: try again later, as a new withdrawal (a new Idempotency-Key).',
    'WITHDRAW_UNAVAILABLE',
    true,
  ),
  withdrawal_user_not_eligible: decline(
    'contact_operator',
    'This user is not eligible to withdraw.',
    'The operator does not permit this user to withdraw.',
    'USER_NOT_ELIGIBLE',
  ),
  withdrawal_daily_limit_exceeded: decline(
    'do_not_retry',
    'The daily withdrawal limit has been reached.',
    "The operator reports the user's daily withdrawal limit is used up.",
    'DAILY_LIMIT_EXCEEDED',
  ),
  withdrawal_amount_too_low: decline(
    'fix_request',
    "The amount is below the operator's minimum withdrawal.",
    "The amount is under the operator's own minimum.",
    'WITHDRAW_AMOUNT_TOO_LOW',
  ),
  withdrawal_amount_too_high: decline(
    'fix_request',
    "The amount is above the operator's maximum withdrawal.",
    "The amount is over the operator's own maximum.",
    'WITHDRAW_AMOUNT_TOO_HIGH',
  ),
  withdrawal_verification_required: decline(
    'complete_user_step',
    'Account verification is required before withdrawing.',
    'The operator requires the user to verify their account first.',
    'ACCOUNT_VERIFICATION_REQUIRED',
  ),
  withdrawal_suspended: decline(
    'contact_operator',
    'Withdrawals are suspended for this user.',
    'The operator has suspended withdrawals for this user specifically.',
    'WITHDRAW_SUSPENDED',
  ),
} as const;

/** ACH returns arrive asynchronously (up to 60 days later) and reverse a settled debit. */
function achReturn(message: string, description: string, seedCode?: string): Definition {
  return define({
    status: 402,
    type: 'declined',
    retryable: false,
    action: 'do_not_retry',
    message,
    description,
    details: { return_code: returnCode, payment_id: paymentId },
    seeds: seedCode === undefined ? {} : { card_ach_api: [achReturned(seedCode)] },
  });
}

const achErrors = {
  ach_insufficient_funds: achReturn(
    'The bank returned the payment: insufficient funds.',
    'R01: the account could not cover the debit.',
    'ach_insufficient_funds',
  ),
  ach_account_closed: achReturn(
    'The bank returned the payment: account closed.',
    'R02: the account was closed.',
    'ach_account_closed',
  ),
  ach_no_account: achReturn(
    'The bank returned the payment: account not found.',
    'R03: the account number does not match an open account.',
  ),
  ach_invalid_account_number: achReturn(
    'The bank returned the payment: invalid account number.',
    "R04: the account number failed the bank's checks.",
  ),
  ach_unauthorized_debit: achReturn(
    'The bank returned the payment: debit not authorized.',
    'R05, R07, R10, R11 or R29: the account holder disputes or revoked the authorization.',
    'ach_unauthorized_debit',
  ),
  ach_payment_stopped: achReturn(
    'The bank returned the payment: payment stopped.',
    'R08: the account holder placed a stop payment.',
  ),
  ach_uncollected_funds: achReturn(
    'The bank returned the payment: uncollected funds.',
    'R09: the balance is sufficient but not yet collected.',
  ),
  ach_account_frozen: achReturn(
    'The bank returned the payment: account frozen.',
    'R16: the bank or a legal authority froze the account.',
    'ach_account_frozen',
  ),
  ach_return_other: achReturn(
    'The bank returned the payment ({return_code}).',
    'Any other NACHA return code; details.return_code has the exact one.',
  ),
  payment_charged_back: define({
    status: 402,
    type: 'declined',
    retryable: false,
    action: 'do_not_retry',
    message: 'The cardholder disputed the payment with their bank and the dispute was lost ({reason}).',
    description:
      "A card chargeback: the card network decided the cardholder's dispute for them, and the money went back " +
      "to them for good. The payment is reversed; details.reason is the network's category.",
    details: {
      reason: req('string', "The dispute's category, e.g. fraudulent, product_not_received."),
      dispute_id: req('string', "The card processor's id of the dispute."),
      payment_id: req('string', 'The charged-back payment.'),
    },
  }),
  payment_not_refundable: define({
    status: 409,
    type: 'invalid_state',
    retryable: false,
    action: 'do_not_retry',
    message: 'Payment {payment_id} cannot be refunded ({reason}).',
    description:
      'Only a completed deposit can be refunded, through the provider that took it, if that provider refunds its ' +
      'method (cards and pay-by-bank; not ACH debits or crypto), in the mode it was made in, while no dispute is ' +
      'open or lost on it and part of it is still unrefunded. details.reason says which does not hold: ' +
      'not_a_deposit, method_not_refundable, not_completed, disputed, fully_refunded, provider_unavailable or mode.',
    details: {
      payment_id: req('string', 'The payment asked to be refunded.'),
      reason: req(
        'string',
        'not_a_deposit, method_not_refundable, not_completed, disputed, fully_refunded, provider_unavailable or mode.',
      ),
      status: opt('string', 'The payment status, where it decides.'),
    },
  }),
  refund_exceeds_refundable: define({
    status: 422,
    type: 'invalid_request',
    retryable: false,
    action: 'fix_request',
    message: 'A refund of {amount} {currency} is more than the {refundable} {currency} still refundable.',
    description:
      'The refunds of a payment, this one with those completed or still in progress, cannot add up to more than it ' +
      'took. Ask for at most details.refundable, or leave the amount out to refund all of it.',
    details: {
      payment_id: req('string', 'The payment refunded.'),
      amount: req('string', 'The refund asked for, decimal in the major unit.'),
      refundable: req('string', 'What may still be refunded, decimal in the major unit.'),
      currency,
    },
  }),
  refund_failed: define({
    status: 402,
    type: 'declined',
    retryable: false,
    action: 'contact_support',
    message: 'The refund could not be paid back to where the payment came from ({reason}).',
    description:
      'The refund was not paid, and nothing left the user’s balance: the refund failed and its hold was freed. ' +
      'details.reason says why: the provider’s refusal (e.g. expired_or_canceled_card, the card is closed, or ' +
      'ACCOUNT_CLOSED, the bank account that paid is: pay the user back another way), or a catalog code such as ' +
      'upstream_error when the provider could not be reached (make a new refund later). The same request ' +
      'replays this answer.',
    details: {
      payment_id: req('string', 'The refund payment.'),
      reason: req('string', "Why, in the provider's words or as a catalog code."),
      provider: opt('string', 'The provider that refused it.'),
    },
  }),
} as const;

const platformErrors = {
  rate_limited: define({
    status: 429,
    type: 'rate_limit',
    retryable: true,
    action: 'retry_after',
    message: 'Too many requests; retry after {retry_after} seconds.',
    description: 'The key exceeded its request rate; the Retry-After header says when to try again.',
    details: { retry_after: req('number', 'Seconds to wait before retrying.') },
    seeds: { ramp_v1: [sc('rate_limit_exceeded', 429)], card_ach_api: [sc('rate_limit_exceeded', 429)] },
  }),
  concurrent_conflict: define({
    status: 409,
    type: 'conflict',
    retryable: true,
    action: 'retry_with_backoff',
    message: 'The request met a concurrent one changing the same records; retry it.',
    description:
      "PostgreSQL ended this request's transaction to resolve a deadlock or serialization conflict with another (40P01, 40001), or could not take a lock in time (55P03). That transaction was rolled back whole, so nothing in it took effect; retry with the same Idempotency-Key, and the retry finishes whatever earlier steps of the request began.",
  }),
  internal_error: define({
    status: 500,
    type: 'internal',
    retryable: true,
    action: 'retry_with_backoff',
    message: 'An internal error occurred.',
    description: 'An unexpected fault; the cause is logged under the request id and never sent to the client.',
    seeds: {
      ramp_v1: [sc('internal_error', 500)],
      ramp_v2: [v2('internal_error', 'db_error', 500), v2('internal_error', 'token_error', 500)],
      card_ach_api: [httpOnly(500)],
    },
  }),
  event_publish_failed: define({
    status: 503,
    type: 'unavailable',
    retryable: true,
    action: 'retry_with_backoff',
    message: 'The event could not be published.',
    description:
      'A lifecycle event could not be recorded for delivery; nothing was changed, so the call can be retried.',
    seeds: { ramp_v2: [v2('publish_failed', 'kafka_unavailable', 500)] },
  }),
  upstream_error: define({
    status: 502,
    type: 'upstream',
    retryable: true,
    action: 'retry_with_backoff',
    message: 'Upstream service {provider} returned an error.',
    description: 'An external service answered with an error.',
    details: { provider },
    seeds: { ramp_v2: [v2('upstream_error', 'provider_error', 502)] },
  }),
  upstream_unavailable: define({
    status: 502,
    type: 'upstream',
    retryable: true,
    action: 'retry_with_backoff',
    message: 'Upstream service {provider} is unreachable.',
    description: 'An external service could not be reached.',
    details: { provider },
    seeds: { ramp_v2: [v2Upstream], card_ach_api: [httpOnly(502)] },
  }),
  upstream_invalid_response: define({
    status: 502,
    type: 'upstream',
    retryable: true,
    action: 'retry_with_backoff',
    message: 'Upstream service {provider} returned an unreadable response.',
    description: 'An external service answered with a body that could not be parsed.',
    details: { provider },
    seeds: { ramp_v2: [v2('upstream_unavailable', 'upstream_invalid_response', 502)] },
  }),
  upstream_timeout: define({
    status: 504,
    type: 'upstream',
    retryable: true,
    action: 'retry_with_backoff',
    message: 'Upstream service {provider} did not respond in time.',
    description: 'An external service did not answer before the deadline.',
    details: { provider },
    seeds: { ramp_v2: [v2Upstream] },
  }),
  service_unavailable: define({
    status: 503,
    type: 'unavailable',
    retryable: true,
    action: 'retry_with_backoff',
    message: 'The service is temporarily unavailable.',
    description:
      'Rampart is starting, draining or cannot reach its database; or, for a refund, a node of an earlier ' +
      'release is still connected to the database (details.reason says so: refunds wait for the upgrade to finish).',
  }),
} as const;

/** Raised by SDKs; the status is the one the SDK synthesises, since no response arrived. */
function clientSide(status: number, message: string, description: string, spec: Partial<Spec> = {}): Definition {
  return define({
    status,
    type: 'client',
    retryable: true,
    action: 'retry',
    message,
    description,
    surface: 'client',
    ...spec,
  });
}

const clientErrors = {
  client_timeout: clientSide(
    408,
    'The request timed out after {timeout_ms} ms.',
    'No response arrived before the SDK deadline (15 s by default).',
    {
      details: { timeout_ms: req('integer', 'The deadline that passed, in milliseconds.') },
      seeds: { prediction_embed: [sc('TIMEOUT')] },
    },
  ),
  network_error: clientSide(
    503,
    'The API could not be reached.',
    'The connection failed: offline, DNS failure, proxy or CORS block.',
    { seeds: { prediction_embed: [sc('NETWORK_ERROR')] } },
  ),
  uncaught_error: clientSide(
    500,
    'An unexpected error occurred in the widget.',
    'An unhandled exception inside the widget or SDK; a bug, not a user or integration problem.',
    { seeds: { prediction_embed: [sc('UNCAUGHT_ERROR')] } },
  ),
} as const;

/** Sections in documentation order; the catalog order follows them. */
const sections = [
  { title: 'Request', entries: requestErrors },
  { title: 'Authentication and access', entries: authErrors },
  { title: 'Sessions', entries: sessionErrors },
  { title: 'User gates and lookups', entries: userErrors },
  { title: 'Payments', entries: paymentErrors },
  { title: 'Operator withdrawal declines', entries: operatorDeclineErrors },
  { title: 'ACH returns and chargebacks', entries: achErrors },
  { title: 'Platform', entries: platformErrors },
  { title: 'Client-side (SDK and widget)', entries: clientErrors },
] as const;

const definitions = {
  ...requestErrors,
  ...authErrors,
  ...sessionErrors,
  ...userErrors,
  ...paymentErrors,
  ...operatorDeclineErrors,
  ...achErrors,
  ...platformErrors,
  ...clientErrors,
};

export type ErrorCode = keyof typeof definitions;

export const catalog: Readonly<Record<ErrorCode, CatalogEntry>> = Object.freeze(
  Object.fromEntries(
    Object.entries(definitions).map(([code, definition]) => [code, Object.freeze({ code, ...definition })]),
  ) as Record<ErrorCode, CatalogEntry>,
);

export const catalogEntries: readonly CatalogEntry[] = Object.freeze(Object.values(catalog));

export const catalogSections: readonly { readonly title: string; readonly codes: readonly ErrorCode[] }[] =
  sections.map(({ title, entries }) => ({ title, codes: Object.keys(entries) as ErrorCode[] }));

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(catalog, value);
}

/** The operator approval webhook's numeric decline reasons, in the cashier's numbering. */
export const operatorDeclineCodes = {
  1: 'withdrawal_declined',
  2: 'withdrawal_insufficient_balance',
  3: 'withdrawal_unavailable',
  4: 'withdrawal_user_not_eligible',
  5: 'withdrawal_daily_limit_exceeded',
  6: 'withdrawal_amount_too_low',
  7: 'withdrawal_amount_too_high',
  8: 'withdrawal_verification_required',
  9: 'withdrawal_suspended',
} as const satisfies Record<number, ErrorCode>;

export type OperatorDeclineReason = keyof typeof operatorDeclineCodes;

/**
 * Operators send whatever their webhook produces; a missing or unknown reason is still a
 * decline, so it falls back to the generic code (reason 1 is the documented default).
 * Digit strings are accepted because JSON bodies often carry numbers as strings.
 */
export function declineCodeForReason(reason: unknown): ErrorCode {
  const n = typeof reason === 'string' && /^\s*\d+\s*$/.test(reason) ? Number(reason) : reason;
  if (typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 9) {
    return operatorDeclineCodes[n as OperatorDeclineReason];
  }
  return operatorDeclineCodes[1];
}

/**
 * NACHA return codes. Only returns with a distinct remedy get their own error; the
 * others are listed so the reference shows them, and keep their exact code in
 * details.return_code.
 */
export const achReturnCodes: Readonly<Record<string, ErrorCode>> = Object.freeze({
  R01: 'ach_insufficient_funds',
  R02: 'ach_account_closed',
  R03: 'ach_no_account',
  R04: 'ach_invalid_account_number',
  R05: 'ach_unauthorized_debit',
  R06: 'ach_return_other',
  R07: 'ach_unauthorized_debit',
  R08: 'ach_payment_stopped',
  R09: 'ach_uncollected_funds',
  R10: 'ach_unauthorized_debit',
  R11: 'ach_unauthorized_debit',
  R12: 'ach_return_other',
  R13: 'ach_return_other',
  R14: 'ach_return_other',
  R15: 'ach_return_other',
  R16: 'ach_account_frozen',
  R17: 'ach_return_other',
  R20: 'ach_return_other',
  R23: 'ach_return_other',
  R24: 'ach_return_other',
  R29: 'ach_unauthorized_debit',
  R31: 'ach_return_other',
} satisfies Record<string, ErrorCode>);

/** The code for a NACHA return code; anything unknown, or not a code at all, is `ach_return_other`. */
export function errorCodeForAchReturn(returnCode: unknown): ErrorCode {
  if (typeof returnCode !== 'string') return 'ach_return_other';
  const key = returnCode.trim().toUpperCase();
  return Object.hasOwn(achReturnCodes, key) ? (achReturnCodes[key] ?? 'ach_return_other') : 'ach_return_other';
}
