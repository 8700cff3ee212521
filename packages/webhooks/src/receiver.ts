import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import type { EventPayload } from './event-payload.ts';

export type RejectionReason = 'malformed_headers' | 'timestamp_out_of_tolerance' | 'bad_signature';

/** A delivery that must not be trusted; answer it with a 4xx and do not act on it. */
export class WebhookRejected extends Error {
  readonly reason: RejectionReason;

  constructor(reason: RejectionReason, message: string) {
    super(message);
    this.name = 'WebhookRejected';
    this.reason = reason;
  }
}

type Headers = Readonly<Record<string, string | readonly string[] | undefined>>;

function single(headers: Headers, name: string): string | undefined {
  const value = headers[name] ?? headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : (value as string | undefined);
}

/**
 * What an operator's receiver runs on every delivery: checks the Standard Webhooks
 * signature over the raw body (verify before parsing JSON) and refuses timestamps more
 * than 5 minutes from now, which stops replays of captured requests. It wraps the
 * reference `standardwebhooks` library; several secrets may be given while the receiver
 * itself is moving to a rotated one.
 */
export class WebhookVerifier {
  private readonly verifiers: Webhook[];

  constructor(secrets: string | readonly string[]) {
    const list = typeof secrets === 'string' ? [secrets] : secrets;
    if (list.length === 0) throw new Error('at least one signing secret');
    this.verifiers = list.map((secret) => new Webhook(secret));
  }

  verify(rawBody: string | Buffer, headers: Headers): EventPayload {
    const normalised: Record<string, string> = {};
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
      const value = single(headers, name);
      if (!value) throw new WebhookRejected('malformed_headers', `missing ${name} header`);
      normalised[name] = value;
    }
    const body = typeof rawBody === 'string' ? rawBody : rawBody.toString('utf8');
    let last: unknown;
    for (const verifier of this.verifiers) {
      try {
        return verifier.verify(body, normalised) as EventPayload;
      } catch (error) {
        if (!(error instanceof WebhookVerificationError)) throw error;
        if (/timestamp too/i.test(error.message))
          throw new WebhookRejected('timestamp_out_of_tolerance', error.message);
        if (/Invalid Signature Headers/i.test(error.message))
          throw new WebhookRejected('malformed_headers', error.message);
        last = error;
      }
    }
    throw new WebhookRejected('bad_signature', last instanceof Error ? last.message : 'no matching signature');
  }
}
