import { RampartError } from '@rampart/errors';
import type { EndUser, EndUsers, KycStatus } from '../users/end-users.ts';

/** A KYC provider as Rampart needs it: start an applicant; results arrive by webhook. */
export interface KycProvider {
  readonly id: string;
  createApplicant(input: {
    /** Stable reference the provider echoes back: `operator/user`. */
    reference: string;
    user: EndUser;
    returnUrl: string | null;
  }): Promise<{ applicantId: string; verificationUrl: string }>;
}

/** A provider's verdict, already mapped to Rampart's statuses by its connector. */
export interface KycVerdict {
  provider: string;
  applicantId: string;
  status: Exclude<KycStatus, 'not_started'>;
  reason?: string | null;
}

/** Identity verification of end users: through a provider, or attested by the operator. */
export class Kyc {
  private readonly users: EndUsers;
  private readonly provider: KycProvider | undefined;

  constructor(users: EndUsers, provider: KycProvider | undefined) {
    this.users = users;
    this.provider = provider;
  }

  async start(
    operatorId: string,
    userId: string,
    returnUrl: string | null,
  ): Promise<{ status: KycStatus; verification_url: string | null }> {
    const user = await this.users.get(operatorId, userId);
    if (user.kyc_status === 'verified' || user.kyc_status === 'pending') {
      return { status: user.kyc_status, verification_url: null };
    }
    if (!this.provider) throw new RampartError('service_unavailable', { reason: 'no KYC provider configured' });
    const applicant = await this.provider.createApplicant({ reference: `${operatorId}/${userId}`, user, returnUrl });
    const updated = await this.users.setKyc(operatorId, userId, {
      status: user.kyc_status === 'reverification_required' ? 'reverification_required' : 'not_started',
      provider: this.provider.id,
      applicantId: applicant.applicantId,
    });
    return { status: updated.kyc_status, verification_url: applicant.verificationUrl };
  }

  /** Applies a provider verdict to whichever user the applicant belongs to. */
  async applyVerdict(
    verdict: KycVerdict,
    findByApplicant: (provider: string, applicantId: string) => Promise<EndUser | undefined>,
  ) {
    const user = await findByApplicant(verdict.provider, verdict.applicantId);
    if (!user) throw new RampartError('user_not_found', { applicant_id: verdict.applicantId });
    return this.users.setKyc(user.operator_id, user.id, {
      status: verdict.status,
      reason: verdict.reason ?? null,
      attested: false,
    });
  }

  /** The operator verified the user itself (or revokes that). */
  attest(operatorId: string, userId: string, status: 'verified' | 'failed', reason: string | null) {
    return this.users.setKyc(operatorId, userId, { status, reason, attested: true });
  }

  requireReverification(operatorId: string, userId: string, reason: string | null) {
    return this.users.setKyc(operatorId, userId, { status: 'reverification_required', reason });
  }
}
