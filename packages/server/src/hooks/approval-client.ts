import type { ApprovalAnswer, ApprovalClient, ApprovalRequest } from '@rampart/core';
import { isHookFailure, type OperatorHooks } from './operator-hooks.ts';

/** Reads the decline reason wherever an operator put it: `reason`, `code`, or inside `error`. */
function reasonOf(body: unknown): number | string | null {
  if (typeof body !== 'object' || body === null) return null;
  const b = body as Record<string, unknown>;
  for (const value of [
    b['reason'],
    b['reason_code'],
    b['code'],
    (b['error'] as Record<string, unknown> | undefined)?.['code'],
  ]) {
    if (typeof value === 'number' || (typeof value === 'string' && /^\d+$/.test(value))) return value;
  }
  return null;
}

/** The longest decline message kept: it is shown on the payment, not a document. */
const MAX_MESSAGE_LENGTH = 500;

/**
 * The operator's decline message as PostgreSQL can store it: bounded, a lone surrogate
 * replaced (U+FFFD), NUL removed. Refusing the message would refuse the decline with it,
 * leaving the withdrawal undecided and its hold in place.
 */
function storableMessage(message: string): string {
  return message.slice(0, MAX_MESSAGE_LENGTH).toWellFormed().replaceAll('\u0000', '');
}

/** What an approval endpoint's answer means; a string is a fault, asked again. */
function readApproval(status: number, body: unknown): ApprovalAnswer | string {
  if (status >= 400) return { kind: 'declined', reason: reasonOf(body) };
  // 202 Accepted: the operator takes the withdrawal for review and decides by hand later.
  if (status === 202 || (body as { review?: unknown } | null)?.review === true) return { kind: 'review' };
  const approved = (body as { approved?: unknown } | null)?.approved;
  if (approved === true) return { kind: 'approved' };
  if (approved === false) {
    const message = (body as { message?: unknown }).message;
    return {
      kind: 'declined',
      reason: reasonOf(body),
      ...(typeof message === 'string' && message !== '' ? { message: storableMessage(message) } : {}),
    };
  }
  return 'answer without a boolean "approved" or "review": true';
}

/**
 * Asks the operator's approval endpoint through its signed, bounded hook call.
 *
 * Answers: 2xx `{"approved": true}` approves; 2xx `{"approved": false, "reason": N}`
 * or any 4xx (with an optional numeric `code`/`reason`) declines; 202, or 2xx
 * `{"review": true}`, holds the withdrawal for review by hand; 5xx, redirects,
 * timeouts and network errors are retried, then count as no answer.
 */
export class HttpApprovalClient implements ApprovalClient {
  private readonly hooks: OperatorHooks;

  constructor(hooks: OperatorHooks) {
    this.hooks = hooks;
  }

  async ask(request: ApprovalRequest): Promise<ApprovalAnswer> {
    const answer = await this.hooks.call({ ...request, idPrefix: 'apr', read: readApproval });
    return isHookFailure(answer) ? { kind: 'no_answer', detail: answer.detail } : answer;
  }
}
