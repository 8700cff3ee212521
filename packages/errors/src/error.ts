import { catalog, type ErrorCode } from './catalog.ts';
import type { CatalogEntry } from './types.ts';

export type ErrorDetails = Record<string, unknown>;

/**
 * The one error class of Rampart. Domain code throws it with a catalog code and the
 * details that code documents; `toHttp` turns it into the wire envelope. `cause` is
 * for logs only and never reaches a client.
 */
export class RampartError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, details: ErrorDetails = {}, options: { cause?: unknown; message?: string } = {}) {
    const entry = catalog[code];
    super(options.message ?? renderMessage(entry.message, details), { cause: options.cause });
    this.name = 'RampartError';
    this.code = code;
    this.details = details;
  }

  /**
   * The catalog entry, looked up rather than stored: catalog entries are frozen, and an
   * own property holding one would break serializers (loggers) that tag what they visit.
   */
  get entry(): CatalogEntry {
    return catalog[this.code];
  }

  get status(): number {
    return this.entry.status;
  }
}

export function isRampartError(value: unknown): value is RampartError {
  return value instanceof RampartError;
}

/** Replaces `{name}` with the detail's value; unknown names are left visible on purpose. */
export function renderMessage(template: string, details: ErrorDetails): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => {
    const value = details[name];
    if (value === undefined || value === null) return whole;
    return typeof value === 'object' ? JSON.stringify(value) : String(value);
  });
}

export interface ErrorEnvelope {
  error: {
    code: string;
    message: string;
    type: string;
    retryable: boolean;
    details: ErrorDetails;
    request_id: string;
    doc_url: string;
  };
}

export interface HttpError {
  status: number;
  headers: Record<string, string>;
  body: ErrorEnvelope;
}

export const DOCS_BASE_URL = 'https://rampart.dev/docs/errors';

/**
 * Pure mapping from an error to the HTTP answer, so the logger and the response agree.
 * Anything that is not a RampartError is an internal error: its text never leaves the
 * process.
 */
export function toHttp(error: unknown, requestId: string, docsBaseUrl: string = DOCS_BASE_URL): HttpError {
  const known = isRampartError(error) ? error : new RampartError('internal_error', {}, { cause: error });
  const headers: Record<string, string> = {};
  const retryAfter = known.details['retry_after'];
  if (typeof retryAfter === 'number') headers['retry-after'] = String(Math.max(1, Math.ceil(retryAfter)));
  return {
    status: known.status,
    headers,
    body: {
      error: {
        code: known.code,
        message: known.message,
        type: known.entry.type,
        retryable: known.entry.retryable,
        details: known.details,
        request_id: requestId,
        doc_url: `${docsBaseUrl}#${known.code}`,
      },
    },
  };
}
