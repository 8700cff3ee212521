import pg from 'pg';

type Handler = (payload: string) => void;

/**
 * Application names of a node's connections, its pool's (`NODE_NAME`) and its LISTEN
 * connection's: they say which release of the database contract the node speaks, so
 * that work an older node would mishandle waits until none is connected.
 * 2: refunds (migration 0029).
 */
export const NODE_NAME = 'rampart/2';
export const LISTENER_NAME = 'rampart-listen/2';

/** The names of earlier releases' connections: `rampart` and `rampart-listen` alone are a node from before refunds. */
export const EARLIER_NODE_NAMES: readonly string[] = ['rampart', 'rampart-listen'];

/**
 * One LISTEN connection per process, shared by everything that reacts to PostgreSQL
 * NOTIFY: caches drop what another node changed, WebSocket streams push status.
 *
 * Notices can be missed while the connection is down. Whoever relies on them registers
 * `onGap`, called when the connection is lost and again once it is back: a cache
 * forgets everything and is bypassed in between (`live` is false), so a missed notice
 * can never leave a stale entry behind.
 */
export class Notifications {
  private readonly connectionString: string;
  private readonly retryMs: number;
  private readonly handlers = new Map<string, Set<Handler>>();
  private readonly gapHandlers = new Set<() => void>();
  private client: pg.Client | undefined;
  private connecting: Promise<void> | undefined;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;
  private connected = false;

  constructor(connectionString: string, options: { retryMs?: number } = {}) {
    this.connectionString = connectionString;
    this.retryMs = options.retryMs ?? 1_000;
  }

  /** True while every notice sent is being received. */
  get live(): boolean {
    return this.connected;
  }

  /** Calls `handler` with the payload of every notice on `channel`; starts listening if needed. */
  async on(channel: string, handler: Handler): Promise<void> {
    if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`bad channel name ${channel}`);
    let set = this.handlers.get(channel);
    const fresh = !set;
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
    }
    set.add(handler);
    if (fresh && this.client && this.connected) await this.client.query(`LISTEN ${channel}`);
    await this.start();
  }

  /** Calls `handler` whenever notices may have been missed (connection lost or re-established). */
  onGap(handler: () => void): void {
    this.gapHandlers.add(handler);
  }

  /** Connects (once); later losses reconnect by themselves. */
  start(): Promise<void> {
    if (this.closed || this.connected) return Promise.resolve();
    this.connecting ??= this.connect().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.connectionString, application_name: LISTENER_NAME });
    this.client = client;
    client.on('notification', (message) => {
      const set = this.handlers.get(message.channel);
      if (!set || message.payload === undefined) return;
      for (const handler of set) {
        try {
          handler(message.payload);
        } catch {
          // One bad handler must not starve the others.
        }
      }
    });
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    try {
      await client.connect();
      for (const channel of this.handlers.keys()) await client.query(`LISTEN ${channel}`);
    } catch {
      this.lost(client);
      return;
    }
    if (this.client !== client || this.closed) return;
    // Whatever changed before LISTEN took effect was not heard: forget it.
    this.gap();
    this.connected = true;
  }

  private lost(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.connected = false;
    client.end().catch(() => {});
    this.gap();
    if (!this.closed && !this.retry) {
      this.retry = setTimeout(() => {
        this.retry = undefined;
        void this.start();
      }, this.retryMs);
      this.retry.unref();
    }
  }

  private gap(): void {
    for (const handler of this.gapHandlers) handler();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.connected = false;
    if (this.retry) clearTimeout(this.retry);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }
}
