/**
 * A broken ledger rule that no client input can cause: an unbalanced transfer, an
 * account twice in one transfer, a hold across currencies. It is a bug in the caller,
 * so it is not a catalog error: the HTTP layer answers it as `internal_error` and logs
 * this message.
 */
export class LedgerInvariantError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LedgerInvariantError';
  }
}

export function invariant(condition: boolean, message: () => string): asserts condition {
  if (!condition) throw new LedgerInvariantError(message());
}
