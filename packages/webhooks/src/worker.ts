import type { KeyObject } from 'node:crypto';
import type { Clock, IdGenerator, Store, StoredEvent } from '@rampart/core';
import type { WebhookConfig } from './config.ts';
import { type ClaimedDelivery, type Completion, DeliveryQueue } from './delivery-queue.ts';
import { presentEvent } from './event-payload.ts';
import { FanOut } from './fan-out.ts';
import type { SecretBox } from './secret-box.ts';
import { signatureHeader, signingKey } from './signature.ts';
import { isSuccess, WebhookTransport } from './transport.ts';
import { networkPolicy } from './url-policy.ts';

/** A lease outlives the request timeout by this much, covering the write of the result. */
const LEASE_MARGIN_MS = 10_000;
/** Deliveries claimed per query. */
const CLAIM_BATCH = 200;
/** Results written per transaction. */
const COMPLETE_BATCH = 500;
/** A failed write of results is tried this often before the lease is left to expire. */
const COMPLETE_TRIES = 3;

export interface WorkerLog {
  error(data: Record<string, unknown>, message: string): void;
  warn(data: Record<string, unknown>, message: string): void;
}

export interface WorkerStats {
  attempts: number;
  succeeded: number;
  failed: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Delivers webhooks from this process. Any number of workers, in any number of
 * processes or nodes, can run against one database: fan-out and claims use
 * `FOR UPDATE SKIP LOCKED`, and every delivery is held by one lease at a time.
 *
 * One loop fans out new events and claims due deliveries up to `concurrency` in flight;
 * results are written in batches (group commit) by a single writer, which then wakes the
 * loop because later deliveries of the same subjects may have become claimable.
 */
export class WebhookWorker {
  readonly stats: WorkerStats = { attempts: 0, succeeded: 0, failed: 0 };
  private readonly clock: Clock;
  private readonly config: WebhookConfig;
  private readonly devServer: boolean;
  private readonly box: SecretBox;
  private readonly log: WorkerLog | undefined;
  private readonly leaseMarginMs: number;
  private readonly fanOut: FanOut;
  private readonly queue: DeliveryQueue;
  private readonly transport: WebhookTransport;
  private readonly inFlight = new Set<Promise<void>>();
  private results: Completion[] = [];
  private writing: Promise<void> | undefined;
  private running: Promise<void> | undefined;
  private stopping = false;
  private wakeUp: (() => void) | undefined;
  /** Decrypted signing keys by endpoint, valid while the endpoint's sealed secrets are unchanged. */
  private readonly keys = new Map<string, { sealed: Buffer; previous: Buffer | null; keys: KeyObject[] }>();
  /** A wake-up that came while the loop was busy; the next idle returns at once. */
  private woken = false;

  constructor(deps: {
    db: Store;
    ids: IdGenerator;
    clock: Clock;
    config: WebhookConfig;
    secrets: SecretBox;
    log?: WorkerLog;
    random?: () => number;
    /**
     * This node is a development server: test endpoints registered on one may reach
     * private and loopback addresses. Checked at each delivery, so an endpoint registered
     * on a development server loses that once its node is no longer one.
     */
    devServer?: boolean;
    /** Time a lease keeps after the request's timeout, to write the result; shortened by tests. */
    leaseMarginMs?: number;
  }) {
    this.devServer = deps.devServer === true;
    this.clock = deps.clock;
    this.config = deps.config;
    this.box = deps.secrets;
    this.log = deps.log;
    this.leaseMarginMs = deps.leaseMarginMs ?? LEASE_MARGIN_MS;
    this.fanOut = new FanOut(deps);
    this.queue = new DeliveryQueue(deps);
    this.transport = new WebhookTransport(Math.max(deps.config.concurrency, 1));
  }

  start(): this {
    if (this.config.concurrency > 0) this.running ??= this.loop();
    return this;
  }

  /** Stops claiming, lets requests in flight finish (each within the timeout), writes their results. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake();
    await this.running;
    await Promise.allSettled([...this.inFlight]);
    await this.flush();
    this.transport.close();
  }

  private wake(): void {
    const wake = this.wakeUp;
    this.wakeUp = undefined;
    if (wake) wake();
    else this.woken = true;
  }

  private idle(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeUp = undefined;
        resolve();
      }, ms);
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async loop(): Promise<void> {
    const leaseMs = this.config.timeoutMs + this.leaseMarginMs;
    while (!this.stopping) {
      let busy = false;
      this.woken = false;
      try {
        busy = (await this.fanOut.dispatchBatch()) > 0;
        const free = this.config.concurrency - this.inFlight.size;
        if (free > 0 && !this.stopping) {
          const want = Math.min(free, CLAIM_BATCH);
          const claimed = await this.queue.claim(want, leaseMs);
          for (const delivery of claimed) this.send(delivery);
          busy ||= claimed.length === want;
        }
      } catch (error) {
        this.log?.error({ err: error }, 'webhook worker: fan-out or claim failed; retrying');
        await sleep(this.config.pollIntervalMs);
        continue;
      }
      if (this.stopping) break;
      // Nothing more is due now, or every slot is taken: wait for a result or the next poll.
      if (!busy || this.inFlight.size >= this.config.concurrency) await this.idle(this.config.pollIntervalMs);
    }
  }

  /** The current secret's key, and the previous one's while its overlap lasts. */
  private signingKeys(delivery: ClaimedDelivery, now: Date): KeyObject[] {
    const overlapping =
      delivery.previous_secret && delivery.previous_secret_expires_at && delivery.previous_secret_expires_at > now
        ? delivery.previous_secret
        : null;
    const cached = this.keys.get(delivery.endpoint_id);
    if (
      cached?.sealed.equals(delivery.secret) &&
      (cached.previous === overlapping || (overlapping !== null && cached.previous?.equals(overlapping)))
    )
      return cached.keys;
    const keys = [signingKey(this.box.open(delivery.secret, delivery.endpoint_id))];
    if (overlapping) keys.push(signingKey(this.box.open(overlapping, delivery.endpoint_id)));
    if (this.keys.size >= 10_000) this.keys.clear();
    this.keys.set(delivery.endpoint_id, { sealed: delivery.secret, previous: overlapping, keys });
    return keys;
  }

  private send(delivery: ClaimedDelivery): void {
    const task = this.attempt(delivery).then((completion) => {
      this.inFlight.delete(task);
      if (!completion) return;
      this.stats.attempts++;
      if (isSuccess(completion.result)) this.stats.succeeded++;
      else this.stats.failed++;
      this.results.push(completion);
      this.write();
      if (this.inFlight.size === this.config.concurrency - 1) this.wake();
    });
    this.inFlight.add(task);
  }

  /**
   * The time the request may take: the configured timeout, less whatever the claim took, so
   * that it ends before the lease, with the margin for writing its result. A request still
   * open when its lease ends could be sent a second time, at once, by another worker.
   */
  private requestTimeMs(delivery: ClaimedDelivery, now: Date): number {
    return Math.min(this.config.timeoutMs, delivery.lease_ends_at.getTime() - this.leaseMarginMs - now.getTime());
  }

  /** Undefined when not sent: the lease left no time for it, and runs out as if this worker had died. */
  private async attempt(delivery: ClaimedDelivery): Promise<Completion | undefined> {
    const startedAt = this.clock.now();
    const timeoutMs = this.requestTimeMs(delivery, startedAt);
    if (timeoutMs <= 0) {
      this.log?.warn(
        { delivery: delivery.id, timeoutMs },
        'webhook worker: claimed too late to send; left to its lease',
      );
      return undefined;
    }
    let secrets: KeyObject[];
    try {
      secrets = this.signingKeys(delivery, startedAt);
    } catch (error) {
      this.log?.error({ err: error, endpoint: delivery.endpoint_id }, 'webhook worker: cannot decrypt signing secret');
      return {
        delivery,
        startedAt,
        endpointAtFault: false,
        result: {
          statusCode: null,
          latencyMs: 0,
          excerpt: null,
          error: 'signing secret cannot be decrypted (RAMPART_SECRETS_KEY changed?)',
          retryAfter: undefined,
        },
      };
    }
    const event: StoredEvent = {
      id: delivery.event_id,
      operator_id: delivery.operator_id,
      type: delivery.type,
      api_version: delivery.api_version,
      subject_id: delivery.subject_id,
      sequence: delivery.sequence,
      data: delivery.data,
      created_at: delivery.created_at,
    };
    const body = JSON.stringify(presentEvent(event));
    const timestamp = Math.floor(startedAt.getTime() / 1_000);
    const result = await this.transport.post({
      url: delivery.url,
      body,
      timeoutMs,
      policy: networkPolicy(delivery.allow_private && this.devServer, this.config.allowPrivateUrls),
      headers: {
        'content-type': 'application/json',
        'user-agent': 'Rampart-Webhooks/1.0',
        // Stable across retries and redeliveries: receivers de-duplicate on it.
        'webhook-id': delivery.event_id,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signatureHeader(secrets, delivery.event_id, timestamp, body),
      },
    });
    return { delivery, startedAt, result, endpointAtFault: true };
  }

  /** One writer at a time; results that arrive meanwhile go into the next batch. */
  private write(): void {
    if (this.writing) return;
    this.writing = (async () => {
      while (this.results.length > 0) {
        const batch = this.results.splice(0, COMPLETE_BATCH);
        for (let tries = 1; ; tries++) {
          try {
            await this.queue.complete(batch);
            break;
          } catch (error) {
            if (tries >= COMPLETE_TRIES) {
              // The leases run out and the deliveries are sent again: at least once, never lost.
              this.log?.error({ err: error, deliveries: batch.length }, 'webhook worker: results not recorded');
              break;
            }
            await sleep(100 * tries);
          }
        }
        this.wake();
      }
      this.writing = undefined;
    })();
  }

  private async flush(): Promise<void> {
    while (this.writing || this.results.length > 0) {
      if (!this.writing) this.write();
      await this.writing;
    }
  }
}
