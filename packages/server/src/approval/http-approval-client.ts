import { createHmac, hkdfSync, randomUUID } from 'node:crypto';
import type { ApprovalAnswer, ApprovalClient, ApprovalRequest, Clock } from '@rampart/core';
import { addressAllowed, guardedLookup, hostOf, type NetworkPolicy } from '@rampart/webhooks';
import { Agent, request as post } from 'undici';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The operator's signing secret for approval requests, derived from the master
 * secret so every node computes the same one and nothing is stored. It is shown to
 * the operator (GET /v1/operator/approval_secret) in Standard Webhooks form.
 */
export function approvalSecret(master: Buffer, operatorId: string): string {
  const key = Buffer.from(hkdfSync('sha256', master, 'rampart approval', operatorId, 32));
  return `whsec_${key.toString('base64')}`;
}

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

/**
 * Asks the operator's approval endpoint, synchronously and bounded: a short timeout
 * per attempt, a few retries on faults, and a signature (Standard Webhooks: HMAC of
 * `id.timestamp.body`) so the operator knows it is Rampart asking.
 *
 * Answers: 2xx `{"approved": true}` approves; 2xx `{"approved": false, "reason": N}`
 * or any 4xx (with an optional numeric `code`/`reason`) declines; 5xx, timeouts and
 * network errors are retried, then count as no answer.
 */
export class HttpApprovalClient implements ApprovalClient {
  private readonly master: Buffer;
  private readonly clock: Clock;
  private readonly policy: NetworkPolicy;
  /** Connects only to addresses the policy allows, checked on every connection (DNS can change). */
  private readonly dispatcher: Agent;

  /**
   * `policy`: where the approval URL may point, as for webhook endpoints: public
   * addresses only, unless this is a development server (`private`) or private URLs are
   * allowed by configuration (`any`). Never the network behind Rampart by default.
   */
  constructor(master: Buffer, clock: Clock, policy: NetworkPolicy = 'public') {
    this.master = master;
    this.clock = clock;
    this.policy = policy;
    this.dispatcher = new Agent({ connect: { lookup: guardedLookup(policy) } });
  }

  /** Closes the connections it keeps to approval endpoints. */
  close(): Promise<void> {
    return this.dispatcher.close();
  }

  async ask(request: ApprovalRequest): Promise<ApprovalAnswer> {
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      return { kind: 'no_answer', detail: 'approval URL is not a URL' };
    }
    // An address literal is never looked up, so the guard cannot see it: checked here.
    if (!addressAllowed(hostOf(url), this.policy)) return { kind: 'no_answer', detail: 'approval URL address refused' };
    const body = JSON.stringify(request.body);
    const id = `apr_${randomUUID()}`;
    const secret = Buffer.from(approvalSecret(this.master, request.operatorId).slice('whsec_'.length), 'base64');
    let detail = 'no attempt made';
    for (let attempt = 0; attempt <= request.retries; attempt++) {
      if (attempt > 0) await sleep(100 * 2 ** (attempt - 1));
      const timestamp = Math.floor(this.clock.now().getTime() / 1000).toString();
      const signature = createHmac('sha256', secret).update(`${id}.${timestamp}.${body}`).digest('base64');
      try {
        const response = await post(request.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'webhook-id': id,
            'webhook-timestamp': timestamp,
            'webhook-signature': `v1,${signature}`,
          },
          body,
          signal: AbortSignal.timeout(request.timeoutMs),
          dispatcher: this.dispatcher,
        });
        const status = response.statusCode;
        const text = await response.body.text();
        let parsed: unknown = null;
        try {
          parsed = text ? JSON.parse(text) : null;
        } catch {
          parsed = null;
        }
        // A redirect is no answer either: the approval URL is where the answer must come from.
        if (status >= 500 || (status >= 300 && status < 400)) {
          detail = `status ${status}`;
          continue;
        }
        if (status >= 400) {
          return { kind: 'declined', reason: reasonOf(parsed) };
        }
        const approved = (parsed as { approved?: unknown } | null)?.approved;
        if (approved === true) return { kind: 'approved' };
        if (approved === false) {
          const message = (parsed as { message?: unknown }).message;
          return { kind: 'declined', reason: reasonOf(parsed), ...(typeof message === 'string' ? { message } : {}) };
        }
        detail = 'answer without a boolean "approved"';
      } catch (error) {
        detail = error instanceof Error ? error.name : 'network error';
      }
    }
    return { kind: 'no_answer', detail };
  }
}
