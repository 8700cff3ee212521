import type { EndUser, KycProvider, ProviderNotice, WebhookSource } from '@rampart/core';
import { RampartError } from '@rampart/errors';
import { type ConnectorOptions, HttpConnector } from '../connector.ts';
import type { ProviderAnswer } from '../http.ts';
import { parseWebhookBody, verifySimSignature } from '../sim-signature.ts';
import { type Applicant, isApplicantStatus, type KycError, type KycEvent, kycRejection, verdictOf } from './wire.ts';

type Verdict = Extract<ProviderNotice['subject'], { type: 'kyc' }>;

/**
 * Identity verification through the sandbox `kyc` provider: an applicant per user,
 * verified on the provider's hosted document and liveness page; verdicts arrive by
 * webhook (and can be asked for with `verdict`).
 */
export class SimKycConnector extends HttpConnector implements KycProvider, WebhookSource {
  constructor(options: ConnectorOptions, id = 'simkyc') {
    super(id, options);
  }

  /**
   * Starts (or resumes) verification. The provider keeps one applicant per
   * `externalUserId`, so a second start — after a retryable rejection, a
   * re-verification request, or a create call that timed out after it was processed —
   * resumes the user's applicant rather than creating another.
   */
  async createApplicant(input: {
    reference: string;
    user: EndUser;
    returnUrl: string | null;
  }): Promise<{ applicantId: string; verificationUrl: string }> {
    const { user } = input;
    const body: Record<string, unknown> = {
      externalUserId: input.reference,
      firstName: required(user.first_name, 'first_name'),
      lastName: required(user.last_name, 'last_name'),
      email: required(user.email, 'email'),
      dob: required(user.date_of_birth, 'date_of_birth'),
      country: required(user.country, 'country').toUpperCase(),
      ...(input.returnUrl ? { returnUrl: input.returnUrl } : {}),
    };
    const answer = await this.call({ method: 'POST', path: '/kyc/v1/applicants', headers: this.headers(), body });
    if (answer.status < 300) return this.started(answer);
    const error = answer.body as KycError;
    if (
      answer.status === 409 &&
      error.errorName === 'applicant_exists' &&
      typeof error.existingApplicantId === 'string'
    ) {
      return this.started(await this.get(error.existingApplicantId));
    }
    throw kycRejection(this.id, answer.status, error, body);
  }

  /** The applicant's current verdict (`null` while the user has not started): for reconciliation. */
  async verdict(applicantId: string): Promise<Verdict | null> {
    const answer = await this.get(applicantId);
    const verdict = verdictOf(this.applicant(answer.body));
    return verdict && { type: 'kyc', ...verdict };
  }

  /**
   * The merchant's request that the applicant verify again. One the provider has not
   * verified (still pending, or rejected) has nothing to verify again: the request is
   * Rampart's alone, and what the provider says of it still stands.
   */
  async requireReverification(applicantId: string): Promise<void> {
    const answer = await this.call({
      method: 'POST',
      path: `/kyc/v1/applicants/${encodeURIComponent(applicantId)}/reverification`,
      headers: this.headers(),
    });
    if (answer.status < 300 || (answer.status === 409 && (answer.body as KycError).errorName === 'invalid_state'))
      return;
    throw kycRejection(this.id, answer.status, answer.body as KycError, {});
  }

  readWebhook(headers: Readonly<Record<string, string | string[] | undefined>>, rawBody: string): ProviderNotice {
    verifySimSignature(headers['x-sim-signature'], rawBody, this.options.webhookSecret, this.nowSeconds());
    const body = parseWebhookBody(rawBody) as Partial<KycEvent>;
    if (typeof body.eventId !== 'string' || typeof body.applicant !== 'object' || body.applicant === null) {
      throw new RampartError('validation_error', {
        issues: [{ field: 'eventId, applicant', message: 'a KYC event needs eventId and applicant' }],
      });
    }
    const applicant = body.applicant;
    if (typeof applicant.id !== 'string' || !isApplicantStatus(applicant.status)) {
      return { eventId: body.eventId, subject: { type: 'ignored', reason: `${String(body.type)}: unknown status` } };
    }
    const verdict = verdictOf(applicant);
    if (!verdict)
      return { eventId: body.eventId, subject: { type: 'ignored', reason: `${body.type}: applicant not started` } };
    return { eventId: body.eventId, subject: { type: 'kyc', ...verdict } };
  }

  private async get(applicantId: string): Promise<ProviderAnswer> {
    const answer = await this.call({
      method: 'GET',
      path: `/kyc/v1/applicants/${encodeURIComponent(applicantId)}`,
      headers: this.headers(),
    });
    if (answer.status >= 300) throw kycRejection(this.id, answer.status, answer.body as KycError, {});
    return answer;
  }

  private started(answer: ProviderAnswer): { applicantId: string; verificationUrl: string } {
    const applicant = this.applicant(answer.body);
    return { applicantId: applicant.id, verificationUrl: applicant.verificationUrl };
  }

  private applicant(body: unknown): Applicant {
    const applicant = body as Partial<Applicant>;
    if (
      typeof applicant.id !== 'string' ||
      typeof applicant.verificationUrl !== 'string' ||
      !isApplicantStatus(applicant.status)
    ) {
      throw new RampartError('upstream_invalid_response', { provider: this.id, reason: 'not an applicant' });
    }
    return applicant as Applicant;
  }

  private headers(): Record<string, string> {
    return { 'x-app-token': this.options.apiKey };
  }
}

/** A profile field the provider needs; the operator supplies it through the users API. */
function required(value: string | null, field: string): string {
  if (value === null || value === '') throw new RampartError('missing_parameter', { field });
  return value;
}
