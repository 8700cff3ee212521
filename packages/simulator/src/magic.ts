import type { ProviderContext } from './context.ts';
import type { Dialect } from './http/dialect.ts';

/**
 * Amount magic shared by every provider: the first two digits after the decimal
 * point (or integer cents mod 100) pick the outcome. Which of them an operation
 * honours is listed per provider in the README.
 */
export const MAGIC_CENTS = {
  /** Declined / rejected for insufficient funds (or balance). */
  insufficientFunds: 1,
  /** The create call answers 500 the first time this exact request is seen; a retry succeeds. */
  errorOnce: 2,
  /** The create call answers 500 every time. */
  errorAlways: 3,
  /** Accepted, then never reaches a final status. */
  pendingForever: 4,
  /** Accepted, then fails asynchronously. */
  failsLater: 5,
  /** The hosted page (bank login, 3-D Secure) answers 500: it fails to load. */
  pageFails: 6,
  /** The provider errors during the hosted flow. */
  flowError: 7,
} as const;

/** Throws the provider's 500 for the "error once" / "error always" amounts. */
export function failIfMagicError(cents: number, fingerprint: string, context: ProviderContext, dialect: Dialect): void {
  const always = cents === MAGIC_CENTS.errorAlways;
  const once = cents === MAGIC_CENTS.errorOnce && context.firstSighting(fingerprint);
  if (always || once) throw dialect.error('internal', 'Simulated provider error (magic amount)');
}
