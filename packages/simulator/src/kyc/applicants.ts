import { isoAt } from '../clock.ts';
import type { ProviderContext } from '../context.ts';
import { FAILURE_REASONS, type FailureReason, type KycScenario, UNSUPPORTED_COUNTRIES } from './magic.ts';

export type ApplicantStatus = 'not_started' | 'pending' | 'verified' | 'failed' | 'reverification_required';

const TRANSITIONS: Record<ApplicantStatus, readonly ApplicantStatus[]> = {
  not_started: ['pending', 'verified', 'failed'],
  pending: ['verified', 'failed'],
  verified: ['reverification_required'],
  failed: ['verified'],
  reverification_required: ['verified', 'failed'],
};

const EVENT_TYPES: Record<ApplicantStatus, string> = {
  not_started: 'applicantCreated',
  pending: 'applicantPending',
  verified: 'applicantReviewed',
  failed: 'applicantReviewed',
  reverification_required: 'applicantReverificationRequired',
};

export interface Applicant {
  id: string;
  externalUserId: string;
  firstName: string;
  lastName: string;
  email: string;
  dob: string;
  country: string;
  returnUrl: string | null;
  scenario: KycScenario;
  status: ApplicantStatus;
  reviewType: 'automatic' | 'manual' | null;
  failureReason: FailureReason | null;
  documentType: string | null;
  livenessPassed: boolean;
  submissions: number;
  reverified: boolean;
  createdAt: number;
  updatedAt: number;
  reviewedAt: number | null;
}

export function serializeApplicant(applicant: Applicant, publicUrl: string) {
  return {
    id: applicant.id,
    externalUserId: applicant.externalUserId,
    firstName: applicant.firstName,
    lastName: applicant.lastName,
    email: applicant.email,
    dob: applicant.dob,
    country: applicant.country,
    status: applicant.status,
    reviewType: applicant.reviewType,
    failureReason: applicant.failureReason,
    rejectType: applicant.failureReason ? FAILURE_REASONS[applicant.failureReason] : null,
    verificationUrl: `${publicUrl}/kyc/verify/${applicant.id}`,
    documentType: applicant.documentType,
    livenessPassed: applicant.livenessPassed,
    createdAt: isoAt(applicant.createdAt),
    updatedAt: isoAt(applicant.updatedAt),
    reviewedAt: applicant.reviewedAt === null ? null : isoAt(applicant.reviewedAt),
  };
}

function ageOn(dob: string, at: number): number {
  const born = new Date(`${dob}T00:00:00Z`);
  const now = new Date(at);
  let age = now.getUTCFullYear() - born.getUTCFullYear();
  const beforeBirthday =
    now.getUTCMonth() < born.getUTCMonth() ||
    (now.getUTCMonth() === born.getUTCMonth() && now.getUTCDate() < born.getUTCDate());
  if (beforeBirthday) age -= 1;
  return age;
}

/** Applicants and their reviews; every status change is a webhook. */
export class Applicants {
  readonly #context: ProviderContext;
  #applicants = new Map<string, Applicant>();

  constructor(context: ProviderContext) {
    this.#context = context;
  }

  get(id: string): Applicant | undefined {
    return this.#applicants.get(id);
  }

  byExternalUserId(externalUserId: string): Applicant | undefined {
    return [...this.#applicants.values()].find((a) => a.externalUserId === externalUserId);
  }

  create(
    input: Pick<
      Applicant,
      'externalUserId' | 'firstName' | 'lastName' | 'email' | 'dob' | 'country' | 'returnUrl' | 'scenario'
    >,
  ): Applicant {
    const now = this.#context.clock.nowMs();
    const applicant: Applicant = {
      id: this.#context.newId('apl'),
      ...input,
      status: 'not_started',
      reviewType: null,
      failureReason: null,
      documentType: null,
      livenessPassed: false,
      submissions: 0,
      reverified: false,
      createdAt: now,
      updatedAt: now,
      reviewedAt: null,
    };
    this.#applicants.set(applicant.id, applicant);
    this.#notify(applicant);
    return applicant;
  }

  /** Whether the hosted page takes a (new) submission now. */
  acceptsSubmission(applicant: Applicant): boolean {
    return (
      applicant.status === 'not_started' ||
      applicant.status === 'reverification_required' ||
      (applicant.status === 'failed' && FAILURE_REASONS[applicant.failureReason!] === 'retry')
    );
  }

  /** Document and liveness submitted on the hosted page: review per rules and scenario. */
  submit(applicant: Applicant, documentType: string): void {
    const now = this.#context.clock.nowMs();
    applicant.documentType = documentType;
    applicant.livenessPassed = true;
    applicant.submissions += 1;
    const { scenario } = applicant;
    const automatic = this.#automaticOutcome(applicant, now);
    if (automatic === 'verified') {
      this.verify(applicant, 'automatic', now);
      return;
    }
    if (automatic) {
      if (automatic === 'face_mismatch') applicant.livenessPassed = false;
      this.fail(applicant, automatic, 'automatic', now);
      return;
    }
    if (scenario.kind === 'pending') {
      applicant.reviewType = 'manual';
      this.#move(applicant, 'pending', now);
      const outcome = scenario.outcome;
      if (outcome !== 'never') {
        this.#context.timeline.at(now + this.#context.settleDelayMs, (at) => {
          if (applicant.status !== 'pending') return;
          if (outcome === 'verified') this.verify(applicant, 'manual', at);
          else this.fail(applicant, outcome, 'manual', at);
        });
      }
      return;
    }
    this.verify(applicant, 'automatic', now);
    if (scenario.kind === 'reverify') {
      this.#context.timeline.at(now + this.#context.settleDelayMs, (at) => this.requireReverification(applicant, at));
    }
  }

  /** Hard rules first, as a real provider's automatic checks run before anything else. */
  #automaticOutcome(applicant: Applicant, now: number): FailureReason | 'verified' | undefined {
    if (ageOn(applicant.dob, now) < 18) return 'underage';
    if (UNSUPPORTED_COUNTRIES.has(applicant.country)) return 'country_not_supported';
    // A second try after a retryable rejection, or a re-verification, passes.
    if (applicant.submissions > 1) return 'verified';
    if (applicant.scenario.kind === 'failed') return applicant.scenario.reason;
    return undefined;
  }

  verify(applicant: Applicant, reviewType: 'automatic' | 'manual', at: number): void {
    applicant.reviewType = reviewType;
    applicant.failureReason = null;
    applicant.reviewedAt = at;
    this.#move(applicant, 'verified', at);
  }

  fail(applicant: Applicant, reason: FailureReason, reviewType: 'automatic' | 'manual', at: number): void {
    applicant.reviewType = reviewType;
    applicant.failureReason = reason;
    applicant.reviewedAt = at;
    this.#move(applicant, 'failed', at);
  }

  requireReverification(applicant: Applicant, at: number): boolean {
    if (applicant.status !== 'verified') return false;
    applicant.reverified = true;
    this.#move(applicant, 'reverification_required', at);
    return true;
  }

  #move(applicant: Applicant, to: ApplicantStatus, at: number): void {
    if (!TRANSITIONS[applicant.status].includes(to)) {
      throw new Error(`applicant ${applicant.id}: ${applicant.status} → ${to} is illegal`);
    }
    applicant.status = to;
    applicant.updatedAt = at;
    this.#notify(applicant);
  }

  #notify(applicant: Applicant): void {
    const eventId = this.#context.newId('kev');
    const type = EVENT_TYPES[applicant.status];
    this.#context.publish('kyc', {
      id: eventId,
      subject: applicant.id,
      type: `${type}:${applicant.status}`,
      payload: {
        eventId,
        type,
        createdAt: isoAt(applicant.updatedAt),
        applicantId: applicant.id,
        externalUserId: applicant.externalUserId,
        applicant: serializeApplicant(applicant, this.#context.publicUrl()),
      },
    });
  }

  clear(): void {
    this.#applicants.clear();
  }
}
