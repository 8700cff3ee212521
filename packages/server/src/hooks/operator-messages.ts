import type { MessageSender, OperatorSettingsStore, OutgoingMessage } from '@rampart/core';
import { RampartError } from '@rampart/errors';
import { isHookFailure, type OperatorHooks } from './operator-hooks.ts';

/** How the upstream is named in errors about it. */
const ENDPOINT = 'operator message endpoint';

/**
 * Verification mail and SMS. Rampart sends neither itself: the operator's message
 * endpoint (`messages.url`) receives each one as a signed POST and delivers it with
 * its own mail and SMS providers, in its own words if it likes (the link and the code
 * come apart from the text). The secret in a message exists only in that request:
 * Rampart stores its hash.
 *
 * With no endpoint, a test-mode message lands in the development outbox (the dev page
 * and the CLI show it), and a live one cannot be sent: live codes never sit in a table
 * anyone with the dev page or database could read.
 */
export class OperatorMessages implements MessageSender {
  private readonly settings: OperatorSettingsStore;
  private readonly hooks: OperatorHooks;
  private readonly outbox: MessageSender;

  constructor(deps: { settings: OperatorSettingsStore; hooks: OperatorHooks; outbox: MessageSender }) {
    this.settings = deps.settings;
    this.hooks = deps.hooks;
    this.outbox = deps.outbox;
  }

  async send(message: OutgoingMessage): Promise<void> {
    const { messages } = await this.settings.get(message.operatorId);
    if (!messages.url) {
      if (message.mode === 'test') return this.outbox.send(message);
      throw new RampartError('service_unavailable', {
        reason: 'no message endpoint configured for live mode (settings: messages.url)',
      });
    }
    const answer = await this.hooks.call({
      operatorId: message.operatorId,
      mode: message.mode,
      url: messages.url,
      timeoutMs: messages.timeout_ms,
      retries: messages.retries,
      idPrefix: 'msg',
      body: {
        type: message.channel === 'email' ? 'verification.email' : 'verification.sms',
        mode: message.mode,
        user_id: message.userId,
        channel: message.channel,
        to: message.to,
        ...(message.subject !== undefined ? { subject: message.subject } : {}),
        body: message.body,
        ...(message.link !== undefined ? { link: message.link } : {}),
        ...(message.code !== undefined ? { code: message.code } : {}),
        expires_at: message.expiresAt.toISOString(),
      },
      // Any 2xx took it; a 4xx refused it, which asking again would not change.
      read: (status) => ({ sent: status < 300 }),
    });
    if (isHookFailure(answer)) {
      if (answer.timedOut) throw new RampartError('upstream_timeout', { provider: ENDPOINT });
      // The endpoint answering a fault (5xx, a redirect) is an error; no answer at all, unreachable.
      throw new RampartError(answer.status === null ? 'upstream_unavailable' : 'upstream_error', {
        provider: ENDPOINT,
      });
    }
    if (!answer.sent) throw new RampartError('upstream_error', { provider: ENDPOINT });
  }
}
