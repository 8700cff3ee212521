/** Why a verification failed, and whether the applicant may try again. */
export const FAILURE_REASONS = {
  document_expired: 'retry',
  document_unreadable: 'retry',
  face_mismatch: 'retry',
  sanctions_hit: 'final',
  underage: 'final',
  duplicate_applicant: 'final',
  country_not_supported: 'final',
} as const;
export type FailureReason = keyof typeof FAILURE_REASONS;

export function isFailureReason(value: unknown): value is FailureReason {
  return typeof value === 'string' && Object.hasOwn(FAILURE_REASONS, value);
}

/** What the verification of an applicant will do, chosen by the local part of their email. */
export type KycScenario =
  | { kind: 'verified' }
  | { kind: 'pending'; outcome: 'verified' | FailureReason | 'never' }
  | { kind: 'failed'; reason: FailureReason }
  | { kind: 'reverify' }
  | { kind: 'error'; once: boolean }
  | { kind: 'page_error' };

const reasonOr = (value: string | undefined, fallback: FailureReason): FailureReason =>
  isFailureReason(value) ? value : fallback;

export function scenarioOf(email: string): KycScenario {
  const local = email.split('@')[0]!.toLowerCase();
  const [head, tail] = local.split('+', 2) as [string, string | undefined];
  switch (head) {
    case 'pending':
      if (tail === undefined) return { kind: 'pending', outcome: 'never' };
      return { kind: 'pending', outcome: tail === 'verified' ? 'verified' : reasonOr(tail, 'document_unreadable') };
    case 'failed':
      return { kind: 'failed', reason: reasonOr(tail, 'document_unreadable') };
    case 'reverify':
      return { kind: 'reverify' };
    case 'error':
      return { kind: 'error', once: tail === 'once' };
    case 'pageerror':
      return { kind: 'page_error' };
    default:
      return { kind: 'verified' };
  }
}

/** Countries the KYC provider does not onboard (comprehensive sanctions). */
export const UNSUPPORTED_COUNTRIES: ReadonlySet<string> = new Set(['KP', 'IR', 'SY', 'CU']);
