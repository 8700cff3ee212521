import { RampartError } from '@rampart/errors';
import type { KeyMode } from '../operators/api-keys.ts';
import type { ProviderNotice } from '../payments/provider.ts';
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
  /**
   * The applicant's verdict as the provider has it now (null while the user has not
   * started). A webhook only says that it changed: its news may be older than another's
   * that came first, so what is applied is what the provider says now.
   */
  verdict(applicantId: string): Promise<Extract<ProviderNotice['subject'], { type: 'kyc' }> | null>;
  /**
   * Asks the provider to verify the applicant again (its verdict becomes
   * `reverification_required`, and its page takes a new submission): the operator's
   * request, told to the provider, so that what it says afterwards is about the new check.
   */
  requireReverification?(applicantId: string): Promise<void>;
}

/** The KYC provider of each mode: a sandbox's verdict never verifies a live user. */
export type KycProvidersByMode = Readonly<Partial<Record<KeyMode, KycProvider>>>;

/** Identity verification of end users: through a provider, or attested by the operator. */
export class Kyc {
  private readonly users: EndUsers;
  private readonly providers: KycProvidersByMode;

  constructor(users: EndUsers, providers: KycProvidersByMode) {
    this.users = users;
    this.providers = providers;
  }

  /** Starts verification with the provider of the user's mode (`mode`: their operator tenant's). */
  async start(
    operatorId: string,
    mode: KeyMode,
    userId: string,
    returnUrl: string | null,
  ): Promise<{ status: KycStatus; verification_url: string | null }> {
    const user = await this.users.get(operatorId, userId);
    if (user.kyc_status === 'verified' || user.kyc_status === 'pending') {
      return { status: user.kyc_status, verification_url: null };
    }
    // A rejection stands until the operator decides otherwise (attests, or asks for
    // re-verification): a fresh start would wipe it, and the user could try again and again.
    if (user.kyc_status === 'failed') throw new RampartError('kyc_failed', { reason: user.kyc_reason ?? 'rejected' });
    const provider = this.providers[mode];
    if (!provider)
      throw new RampartError('service_unavailable', { reason: `no KYC provider configured for ${mode} mode` });
    const applicant = await provider.createApplicant({ reference: `${operatorId}/${userId}`, user, returnUrl });
    // Only the applicant changes: the status (not started, or re-verification required) and its reason stay.
    const updated = await this.users.setKyc(operatorId, userId, {
      status: user.kyc_status,
      reason: user.kyc_reason,
      provider: provider.id,
      applicantId: applicant.applicantId,
    });
    return { status: updated.kyc_status, verification_url: applicant.verificationUrl };
  }

  /**
   * The operator verified the user itself (or rejected them). It stands over what the
   * provider says, however late its webhooks come, until the operator decides again;
   * except that the provider's later rejection still ends an attested verification.
   */
  attest(operatorId: string, userId: string, status: 'verified' | 'failed', reason: string | null) {
    return this.users.setKyc(operatorId, userId, { status, reason, attested: true });
  }

  /**
   * The operator asks the user to verify again. The user's provider is told first (when
   * it takes such requests): otherwise it would still say `verified`, and a late or
   * resent webhook, applied as what the provider says now, would undo the request.
   */
  async requireReverification(operatorId: string, mode: KeyMode, userId: string, reason: string | null) {
    const user = await this.users.get(operatorId, userId);
    const provider = this.providers[mode];
    if (user.kyc_applicant_id && provider && provider.id === user.kyc_provider)
      await provider.requireReverification?.(user.kyc_applicant_id);
    return this.users.setKyc(operatorId, userId, { status: 'reverification_required', reason, attested: false });
  }
}
