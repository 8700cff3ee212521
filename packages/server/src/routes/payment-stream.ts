import type {} from '@fastify/websocket';
import {
  type Notifications,
  type Operators,
  PAYMENT_STATUS_CHANNEL,
  type PaymentNotice,
  type Payments,
  parseNotices,
} from '@rampart/core';
import { RampartError } from '@rampart/errors';
import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import { bearer } from '../http/auth.ts';
import { presentPayment } from './payments.ts';

interface Subscriber {
  socket: WebSocket;
  operatorId: string;
  paymentId?: string;
  userId?: string;
  /**
   * Checks again that the key the stream was opened with may still read (not revoked,
   * not expired past its rotation, the caller still allowed): throws its catalog error.
   */
  authorize: () => Promise<unknown>;
}

/** Per node, a bound on open streams: each holds a socket and memory. */
const MAX_SUBSCRIBERS = 10_000;

/** How often every open stream's key is checked again, whatever it is sent meanwhile. */
const REAUTHORIZE_EVERY_MS = 15_000;

/**
 * Status changes of payments pushed over WebSocket to operator servers. One LISTEN
 * connection per node receives every change (PostgreSQL NOTIFY, sent on commit by
 * the transaction that changed the payment), so any node can serve any stream.
 */
export class PaymentStream {
  private readonly subscribers = new Set<Subscriber>();
  private readonly notifications: Notifications;
  private readonly payments: Payments;
  private listening: Promise<void> | undefined;
  private readonly sweep: NodeJS.Timeout;

  constructor(notifications: Notifications, payments: Payments) {
    this.notifications = notifications;
    this.payments = payments;
    // A key revoked (or past its rotation) ends its streams: checked before each message,
    // and every REAUTHORIZE_EVERY_MS for streams that are sent nothing.
    this.sweep = setInterval(() => {
      for (const s of this.subscribers) void this.stillAuthorized(s);
    }, REAUTHORIZE_EVERY_MS);
    this.sweep.unref();
    // Notices missed while the connection was down cannot be replayed: streams are told to resubscribe.
    notifications.onGap(() => {
      for (const s of this.subscribers) s.socket.close(1011, 'stream interrupted; reconnect');
      this.subscribers.clear();
    });
  }

  private listen(): Promise<void> {
    this.listening ??= this.notifications.on(PAYMENT_STATUS_CHANNEL, (payload) => {
      for (const notice of parseNotices(payload)) if (notice.status_changed !== false) void this.dispatch(notice);
    });
    return this.listening;
  }

  private async dispatch(notice: PaymentNotice): Promise<void> {
    const targets = [...this.subscribers].filter(
      (s) =>
        s.operatorId === notice.operator_id &&
        (s.paymentId === notice.payment_id || (s.userId !== undefined && s.userId === notice.user_id)),
    );
    if (targets.length === 0) return;
    const payment = await this.payments.get(notice.operator_id, notice.payment_id).catch(() => undefined);
    if (!payment) return;
    const message = JSON.stringify({ type: 'payment.status', payment: presentPayment(payment) });
    await Promise.all(
      targets.map(async (target) => {
        if (target.socket.readyState === target.socket.OPEN && (await this.stillAuthorized(target)))
          target.socket.send(message);
      }),
    );
  }

  /** Whether the stream's key may still read; if not, the stream is told why and closed. */
  private async stillAuthorized(subscriber: Subscriber): Promise<boolean> {
    try {
      await subscriber.authorize();
      return true;
    } catch (error) {
      const code = error instanceof RampartError ? error.code : 'internal_error';
      this.subscribers.delete(subscriber);
      if (subscriber.socket.readyState === subscriber.socket.OPEN) {
        subscriber.socket.send(JSON.stringify({ type: 'error', error: { code } }));
        subscriber.socket.close(1008, code);
      }
      return false;
    }
  }

  async subscribe(subscriber: Subscriber): Promise<void> {
    if (this.subscribers.size >= MAX_SUBSCRIBERS)
      throw new RampartError('service_unavailable', { reason: 'too many streams' });
    await this.listen();
    this.subscribers.add(subscriber);
    subscriber.socket.on('close', () => this.subscribers.delete(subscriber));
  }

  async close(): Promise<void> {
    clearInterval(this.sweep);
    for (const s of this.subscribers) s.socket.close(1001, 'server shutting down');
    this.subscribers.clear();
  }
}

export function paymentStreamRoutes(
  app: FastifyInstance,
  deps: { stream: PaymentStream; payments: Payments; operators: Operators },
): void {
  app.get<{ Querystring: { payment_id?: string; user_id?: string } }>(
    '/v1/payments/stream',
    {
      websocket: true,
      schema: {
        tags: ['payments'],
        summary: 'WebSocket: status changes of one payment (payment_id) or of all of a user’s payments (user_id)',
        querystring: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          maxProperties: 1,
          properties: { payment_id: { type: 'string', maxLength: 64 }, user_id: { type: 'string', maxLength: 128 } },
        },
      },
    },
    async (socket, request) => {
      const operatorId = request.operator.operatorId;
      const { payment_id: paymentId, user_id: userId } = request.query;
      try {
        // The current state first, so a client that connects late misses nothing.
        if (paymentId) {
          const payment = await deps.payments.get(operatorId, paymentId);
          socket.send(JSON.stringify({ type: 'payment.status', payment: presentPayment(payment) }));
        }
        // The key as it was presented, checked again while the stream lasts.
        const secret = bearer(request);
        const caller = { ip: request.ip, origin: request.headers.origin };
        await deps.stream.subscribe({
          socket,
          operatorId,
          authorize: () => deps.operators.authenticate(secret, caller),
          ...(paymentId ? { paymentId } : {}),
          ...(userId ? { userId } : {}),
        });
      } catch (error) {
        const code = error instanceof RampartError ? error.code : 'internal_error';
        socket.send(JSON.stringify({ type: 'error', error: { code, request_id: request.id } }));
        socket.close(1008, code);
      }
    },
  );
}
