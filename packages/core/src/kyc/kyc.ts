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

  /** The operator verified the user itself (or revokes that). */
  attest(operatorId: string, userId: string, status: 'verified' | 'failed', reason: string | null) {
    return this.users.setKyc(operatorId, userId, { status, reason, attested: true });
  }

  requireReverification(operatorId: string, userId: string, reason: string | null) {
    return this.users.setKyc(operatorId, userId, { status: 'reverification_required', reason });
  }
}
