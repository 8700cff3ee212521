import { createHmac, hkdfSync, randomUUID } from 'node:crypto';
import type { Clock, KeyMode } from '@rampart/core';
import { addressAllowed, guardedLookup, hostOf, type NetworkPolicy, networkPolicy } from '@rampart/webhooks';
import { Agent, request as post } from 'undici';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Most of an answer that is read: an approval or a receipt is a few bytes; a larger one is cut off (and so unusable). */
const MAX_ANSWER_BYTES = 64 * 1024;

/** An answer's first `limit` bytes; the rest is never read (the connection is dropped). */
async function readUpTo(body: AsyncIterable<Buffer>, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    size += chunk.length;
    if (size > limit) break; // leaving the loop destroys the stream
  }
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}

/**
 * The operator's signing secret for Rampart's calls to its own endpoints (withdrawal
 * approval, message delivery), derived from the master secret so every node computes
 * the same one and nothing is stored. Each mode of an operator has its own. It is shown
 * to the operator (GET /v1/operator/approval_secret) in Standard Webhooks form.
 */
export function operatorHookSecret(master: Buffer, operatorId: string): string {
  const key = Buffer.from(hkdfSync('sha256', master, 'rampart approval', operatorId, 32));
  return `whsec_${key.toString('base64')}`;
}

/** A call that got no usable answer. Of its last attempt: the status it got (null: none), or whether it ran out of time. */
export interface HookFailure {
  failed: true;
  detail: string;
  status: number | null;
  timedOut: boolean;
}

export interface HookCall<T> {
  operatorId: string;
  mode: KeyMode;
  url: string;
  body: unknown;
  timeoutMs: number;
  /** Further attempts after a fault (network error, timeout, a 3xx or 5xx, or what `read` refuses). */
  retries: number;
  /** Prefix of the `webhook-id` (one id for every attempt of a call). */
  idPrefix: string;
  /** What an answer means: a value ends the call; a string is a fault (its description), tried again. */
  read(status: number, body: unknown): T | string;
}

/**
 * Rampart's synchronous calls to an operator's endpoints: signed like a webhook
 * (Standard Webhooks: HMAC of `id.timestamp.body` with `operatorHookSecret`), bounded (a
 * short timeout per attempt, a few retries with backoff), and held to a network
 * policy checked on every connection (DNS can change), so that an operator's URL
 * never reaches the network behind Rampart unless configuration allows it.
 */
export class OperatorHooks {
  private readonly master: Buffer;
  private readonly clock: Clock;
  private readonly network: { devServer: boolean; allowPrivateUrls: boolean };
  /** One connection pool per policy, each connecting only where its policy allows. */
  private readonly dispatchers = new Map<NetworkPolicy, Agent>();

  constructor(master: Buffer, clock: Clock, network: { devServer: boolean; allowPrivateUrls: boolean }) {
    this.master = master;
    this.clock = clock;
    this.network = network;
  }

  /**
   * Where a mode's endpoints may point: public addresses only, as for webhook endpoints,
   * unless configuration allows private ones; on a development server, test mode may
   * also use private and loopback addresses (a live URL never may).
   */
  policy(mode: KeyMode): NetworkPolicy {
    return networkPolicy(this.network.devServer && mode === 'test', this.network.allowPrivateUrls);
  }

  private dispatcher(policy: NetworkPolicy): Agent {
    let agent = this.dispatchers.get(policy);
    if (!agent) {
      agent = new Agent({ connect: { lookup: guardedLookup(policy) } });
      this.dispatchers.set(policy, agent);
    }
    return agent;
  }

  /** Closes the connections it keeps to operators' endpoints. */
  async close(): Promise<void> {
    await Promise.all([...this.dispatchers.values()].map((agent) => agent.close()));
  }

  async call<T>(call: HookCall<T>): Promise<T | HookFailure> {
    const failure = (detail: string, status: number | null = null, timedOut = false): HookFailure => ({
      failed: true,
      detail,
      status,
      timedOut,
    });
    let url: URL;
    try {
      url = new URL(call.url);
    } catch {
      return failure('the URL is not a URL');
    }
    // An address literal is never looked up, so the guard cannot see it: checked here.
    const policy = this.policy(call.mode);
    if (!addressAllowed(hostOf(url), policy)) return failure('the URL address is refused');
    const body = JSON.stringify(call.body);
    const id = `${call.idPrefix}_${randomUUID()}`;
    const secret = Buffer.from(operatorHookSecret(this.master, call.operatorId).slice('whsec_'.length), 'base64');
    let last = failure('no attempt made');
    for (let attempt = 0; attempt <= call.retries; attempt++) {
      if (attempt > 0) await sleep(100 * 2 ** (attempt - 1));
      const timestamp = Math.floor(this.clock.now().getTime() / 1000).toString();
      const signature = createHmac('sha256', secret).update(`${id}.${timestamp}.${body}`).digest('base64');
      try {
        const response = await post(call.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'webhook-id': id,
            'webhook-timestamp': timestamp,
            'webhook-signature': `v1,${signature}`,
          },
          body,
          signal: AbortSignal.timeout(call.timeoutMs),
          dispatcher: this.dispatcher(policy),
        });
        const status = response.statusCode;
        const text = await readUpTo(response.body, MAX_ANSWER_BYTES);
        // A redirect is no answer: the configured URL is where the answer must come from.
        if (status >= 500 || (status >= 300 && status < 400)) {
          last = failure(`status ${status}`, status);
          continue;
        }
        let parsed: unknown = null;
        try {
          parsed = text ? JSON.parse(text) : null;
        } catch {
          parsed = null;
        }
        const answer = call.read(status, parsed);
        if (typeof answer !== 'string') return answer;
        last = failure(answer, status);
      } catch (error) {
        const name = error instanceof Error ? error.name : 'network error';
        last = failure(name, null, name === 'TimeoutError');
      }
    }
    return last;
  }
}

export const isHookFailure = (value: unknown): value is HookFailure =>
  typeof value === 'object' && value !== null && (value as { failed?: unknown }).failed === true;
