/**
 * Wire types of the sandbox identity verification provider (`/kyc`): camelCase,
 * errors as `{ code (HTTP status), errorName, description, correlationId, field }`.
 * Every applicant status and error it documents is mapped here, exhaustively.
 */
import type { ProviderNotice } from '@rampart/core';
import { RampartError } from '@rampart/errors';

export type ApplicantStatus = 'not_started' | 'pending' | 'verified' | 'failed' | 'reverification_required';

export interface Applicant {
  id: string;
  externalUserId: string;
  status: ApplicantStatus;
  reviewType: 'automatic' | 'manual' | null;
  failureReason: string | null;
  rejectType: 'retry' | 'final' | null;
  verificationUrl: string;
  /** The applicant's last change: when its current verdict was reached. */
  updatedAt?: string;
}

export interface KycError {
  code: number;
  errorName: string;
  description: string;
  correlationId: string;
  field: string | null;
  existingApplicantId?: string;
}

export interface KycEvent {
  eventId: string;
  type: string;
  applicantId: string;
  applicant: Applicant;
}

type KycSubject = Extract<ProviderNotice['subject'], { type: 'kyc' }>;

/**
 * Rampart's view of each applicant status. `not_started` (the applicant exists, the
 * user has not submitted anything) changes nothing Rampart records, so it is `null`.
 */
const STATUS: Record<ApplicantStatus, KycSubject['status'] | null> = {
  not_started: null,
  pending: 'pending',
  verified: 'verified',
  failed: 'failed',
  reverification_required: 'reverification_required',
};

export function isApplicantStatus(status: unknown): status is ApplicantStatus {
  return typeof status === 'string' && Object.hasOwn(STATUS, status);
}

/** The verdict an applicant stands at, or `null` while the user has not started. */
export function verdictOf(applicant: Applicant): Omit<KycSubject, 'type'> | null {
  const status = STATUS[applicant.status];
  if (status === null) return null;
  // The provider's own reason (document_expired, sanctions_hit, …) is kept as is.
  const reason = status === 'failed' ? (applicant.failureReason ?? 'rejected') : null;
  return {
    applicantId: applicant.id,
    status,
    reason,
    ...(typeof applicant.updatedAt === 'string' ? { at: applicant.updatedAt } : {}),
  };
}

/** Rampart's name for each field the provider validates. */
export const PROFILE_FIELDS = {
  externalUserId: 'reference',
  firstName: 'first_name',
  lastName: 'last_name',
  email: 'email',
  dob: 'date_of_birth',
  country: 'country',
  returnUrl: 'return_url',
} as const;

/**
 * Every error the provider documents except `applicant_exists`, which the connector
 * resolves itself. Input the provider refuses is the caller's to fix; anything that
 * means Rampart sent a broken or unauthenticated request is an internal error (logged,
 * never shown); 5xx answers never get here (`callProvider` makes them `upstream_error`).
 */
export function kycRejection(
  provider: string,
  status: number,
  error: KycError,
  sent: Record<string, unknown>,
): RampartError {
  switch (error.errorName) {
    case 'validation_error': {
      const wire = (error.field ?? '') as keyof typeof PROFILE_FIELDS;
      const field = Object.hasOwn(PROFILE_FIELDS, wire) ? PROFILE_FIELDS[wire] : null;
      if (field)
        return new RampartError('invalid_value', { field, provided: sent[wire] ?? null, expected: error.description });
      break;
    }
    case 'malformed_request':
    case 'unauthorized':
    case 'not_found':
    case 'route_not_found':
    case 'idempotency_conflict':
    case 'idempotency_in_progress':
    case 'invalid_state':
      break;
    case 'internal_error':
    case 'service_unavailable':
      return new RampartError('upstream_error', { provider, status });
    default:
      return new RampartError('upstream_invalid_response', {
        provider,
        status,
        provider_code: String(error.errorName),
      });
  }
  return new RampartError(
    'internal_error',
    {},
    { cause: new Error(`${provider} refused a request: ${status} ${error.errorName} ${error.description}`) },
  );
}
