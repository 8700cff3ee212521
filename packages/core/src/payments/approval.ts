import { declineCodeForReason, type ErrorCode } from '@rampart/errors';
import type { KeyMode } from '../operators/api-keys.ts';

export interface ApprovalRequest {
  operatorId: string;
  /** The operator tenant's mode: which network policy its URL is held to. */
  mode: KeyMode;
  url: string;
  timeoutMs: number;
  retries: number;
  body: Record<string, unknown>;
}

/** What came back from the operator's approval endpoint. */
export type ApprovalAnswer =
  | { kind: 'approved' }
  | { kind: 'declined'; reason: number | string | null; message?: string }
  /** The operator decides later, by hand (`POST /v1/payments/{id}/approve` or `/decline`). */
  | { kind: 'review' }
  | { kind: 'no_answer'; detail: string };

/** Calls the operator's approval endpoint (signed, bounded); implemented over HTTP by the server. */
export interface ApprovalClient {
  ask(request: ApprovalRequest): Promise<ApprovalAnswer>;
}

/** What no usable answer from the approval endpoint means. */
export type NoAnswerPolicy = 'decline' | 'approve' | 'review';

export type ApprovalDecision =
  | { approved: true; source: 'operator' | 'default' }
  /** Held for the operator's review by hand. */
  | { approved: null; source: 'operator' | 'default' }
  | { approved: false; code: ErrorCode; reasonCode: number; source: 'operator' | 'default'; message?: string };

/** Declines map their numeric reason (1–9) onto the catalog; no answer falls back to the configured default. */
export function decide(answer: ApprovalAnswer, onNoAnswer: NoAnswerPolicy): ApprovalDecision {
  if (answer.kind === 'approved') return { approved: true, source: 'operator' };
  if (answer.kind === 'review') return { approved: null, source: 'operator' };
  if (answer.kind === 'declined') {
    const code = declineCodeForReason(answer.reason);
    const reasonCode = Number(answer.reason);
    return {
      approved: false,
      code,
      reasonCode: Number.isInteger(reasonCode) && reasonCode >= 1 && reasonCode <= 9 ? reasonCode : 1,
      source: 'operator',
      ...(answer.message ? { message: answer.message } : {}),
    };
  }
  if (onNoAnswer === 'approve') return { approved: true, source: 'default' };
  if (onNoAnswer === 'review') return { approved: null, source: 'default' };
  // No answer is a decline as "withdrawals unavailable" (reason 3), never a silent approval.
  return { approved: false, code: 'withdrawal_unavailable', reasonCode: 3, source: 'default' };
}
