/**
 * The shape of one catalog entry. The catalog (catalog.ts) is the single source of
 * truth for every error Rampart can raise: HTTP API, webhooks, widget callbacks,
 * postMessage events and SDK exceptions all speak these codes.
 */

/** Broad family of an error; clients branch on `code`, dashboards group by `type`. */
export type ErrorType =
  | 'invalid_request'
  | 'authentication'
  | 'permission'
  | 'not_found'
  | 'conflict'
  | 'invalid_state'
  | 'compliance'
  | 'declined'
  | 'rate_limit'
  | 'upstream'
  | 'internal'
  | 'unavailable'
  | 'client';

/** What the client (operator backend, widget, SDK) should do next. */
export type ClientAction =
  | 'fix_request'
  | 'check_credentials'
  | 'register_origin'
  | 'register_ip'
  | 'contact_operator'
  | 'contact_support'
  | 'retry'
  | 'retry_with_backoff'
  | 'retry_after'
  | 'refresh_token'
  | 'new_session'
  | 'complete_user_step'
  | 'wait_for_completion'
  | 'do_not_retry';

/** Where a code can be observed. `client` codes are raised by SDKs, never by the server. */
export type Surface = 'server' | 'client';

/** `any` is for values echoed back as the client sent them (e.g. `provided`), whatever their JSON type. */
export type DetailType = 'string' | 'integer' | 'number' | 'boolean' | 'object' | 'array' | 'any';

export interface DetailSpec {
  readonly type: DetailType;
  readonly description: string;
  /** Present on every instance of the error. */
  readonly required?: boolean;
}

/**
 * The public error systems Rampart is compatible with. Each entry records, per
 * system, how that system spells the same condition so compatibility surfaces can
 * answer in its dialect.
 */
export type SeedSystem = 'ramp_v1' | 'ramp_v2' | 'prediction_embed' | 'igaming_cashier' | 'card_ach_api';

/**
 * How one seed system spells a condition. At least one of `code`, `status` or `event`
 * is present: some systems name a condition only by HTTP status (card_ach_api's 423,
 * 428, 451) or only by an event (prediction_embed's PROPHETX_KYC_FAILED).
 */
export interface SeedMapping {
  /** The code the seed system uses; absent when it documents the condition only by status or event. */
  readonly code?: string;
  /** The HTTP status that system answers with, when it has one (widget-only codes do not). */
  readonly status?: number;
  /** ramp_v2's outer `error` slug, which pairs with `code`. */
  readonly slug?: string;
  /** An event that signals the condition (postMessage, webhook or status callback value). */
  readonly event?: string;
}

export interface CatalogEntry {
  readonly code: string;
  readonly status: number;
  readonly type: ErrorType;
  readonly retryable: boolean;
  readonly action: ClientAction;
  /** Human message; `{name}` is replaced by `details.name`. */
  readonly message: string;
  /** One sentence for the reference docs: when does this happen. */
  readonly description: string;
  readonly details: Readonly<Record<string, DetailSpec>>;
  readonly seeds: Readonly<Partial<Record<SeedSystem, readonly SeedMapping[]>>>;
  readonly surface: Surface;
}
