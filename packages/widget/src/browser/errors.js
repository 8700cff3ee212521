import catalog from './catalog.json' with { type: 'json' };

/** @typedef {keyof typeof catalog} ClientErrorCode */

/**
 * Replaces `{name}` with the detail's value; unknown names are left visible. The same
 * rule as `renderMessage` in @rampart/errors (test/catalog.test.ts holds them together).
 * @param {string} template
 * @param {Readonly<Record<string, unknown>>} details
 * @returns {string}
 */
export function renderMessage(template, details) {
  return template.replace(/\{(\w+)\}/g, (whole, name) => {
    const value = details[name];
    if (value === undefined || value === null) return whole;
    return typeof value === 'object' ? JSON.stringify(value) : String(value);
  });
}

/**
 * An error as the widget reports it: a catalog code with its message, retryability and
 * details, whether the widget raised it (the catalog's client codes) or the API answered
 * it (the envelope's `error`).
 */
export class WidgetError extends Error {
  /**
   * @param {{ code: string, message: string, retryable: boolean, details: Record<string, unknown> }} fields
   * @param {ErrorOptions} [options]
   */
  constructor(fields, options) {
    super(fields.message, options);
    this.name = 'WidgetError';
    /** @readonly */
    this.code = fields.code;
    /** @readonly */
    this.retryable = fields.retryable;
    /** @readonly */
    this.details = fields.details;
  }
}

/**
 * One of the catalog's client codes, its message rendered from `details`.
 * @param {ClientErrorCode} code
 * @param {Record<string, unknown>} [details]
 * @param {unknown} [cause] for the console only; never shown or posted
 * @returns {WidgetError}
 */
export function clientError(code, details = {}, cause) {
  const entry = catalog[code];
  const fields = { code, message: renderMessage(entry.message, details), retryable: entry.retryable, details };
  return new WidgetError(fields, cause === undefined ? {} : { cause });
}

/**
 * The API's error envelope as a WidgetError. Anything else in its place (a proxy's error
 * page, a cut connection) means the API was not properly reached: `network_error`.
 * @param {unknown} body
 * @returns {WidgetError}
 */
export function errorFromEnvelope(body) {
  const error = /** @type {{ error?: Record<string, unknown> } | null} */ (body)?.error;
  if (!error || typeof error['code'] !== 'string' || typeof error['message'] !== 'string') {
    return clientError('network_error', {}, body);
  }
  const details = typeof error['details'] === 'object' && error['details'] !== null ? error['details'] : {};
  return new WidgetError({
    code: error['code'],
    message: error['message'],
    retryable: error['retryable'] === true,
    details: /** @type {Record<string, unknown>} */ (details),
  });
}
