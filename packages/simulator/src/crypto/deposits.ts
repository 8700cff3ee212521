import { isoAt } from '../clock.ts';
import type { ProviderContext } from '../context.ts';
import { ReferenceIndex } from '../http/references.ts';
import { MAGIC_CENTS } from '../magic.ts';
import { formatMinor } from '../money.ts';
import type { AssetOnNetwork } from './assets.ts';
import { type ChainTx, fateOf, serializeTx, simulateTransfer, type TxFate } from './chain.ts';
import { publishRampEvent } from './events.ts';

export type WatchStatus = 'watching' | 'detected' | 'confirming' | 'confirmed' | 'failed' | 'expired';

export interface DepositWatch {
  id: string;
  address: string;
  asset: AssetOnNetwork;
  expectedMinor: bigint;
  reference: string;
  magic: number;
  status: WatchStatus;
  tx: ChainTx | null;
  failureReason: string | null;
  createdAt: number;
  updatedAt: number;
  expiresAt: number;
}

export function serializeWatch(watch: DepositWatch) {
  return {
    watch_id: watch.id,
    status: watch.status,
    address: watch.address,
    asset: watch.asset.asset,
    network: watch.asset.network,
    expected_amount: formatMinor(watch.expectedMinor, watch.asset.decimals),
    reference: watch.reference,
    failure_reason: watch.failureReason,
    transaction: serializeTx(watch.tx),
    created_at: isoAt(watch.createdAt),
    updated_at: isoAt(watch.updatedAt),
    expires_at: isoAt(watch.expiresAt),
  };
}

/**
 * Watches on addresses Rampart derived itself. The "user" sends the expected amount
 * after the settle delay unless the magic amount says otherwise: …01 never arrives
 * (the watch expires), …04 is seen but never confirms, …05 is dropped.
 */
export class DepositWatches {
  readonly #context: ProviderContext;
  #watches = new Map<string, DepositWatch>();
  #byReference = new ReferenceIndex<DepositWatch>();

  constructor(context: ProviderContext) {
    this.#context = context;
  }

  get(id: string): DepositWatch | undefined {
    return this.#watches.get(id);
  }

  /** The latest watch created with this `reference`. */
  byReference(reference: string): DepositWatch | undefined {
    return this.#byReference.find(reference);
  }

  /** The open watch on an address, if any (one at a time per address and network). */
  openOn(address: string, network: string): DepositWatch | undefined {
    return [...this.#watches.values()].find(
      (w) => w.address === address && w.asset.network === network && w.status === 'watching',
    );
  }

  create(input: Pick<DepositWatch, 'address' | 'asset' | 'expectedMinor' | 'reference' | 'magic'>, ttlMs: number) {
    const now = this.#context.clock.nowMs();
    const watch: DepositWatch = {
      id: this.#context.newId('dw'),
      ...input,
      status: 'watching',
      tx: null,
      failureReason: null,
      createdAt: now,
      updatedAt: now,
      expiresAt: now + ttlMs,
    };
    this.#watches.set(watch.id, watch);
    this.#byReference.remember(watch.reference, watch);
    this.#notify(watch);
    this.#context.timeline.at(watch.expiresAt, (at) => {
      if (watch.status === 'watching') this.#move(watch, 'expired', at);
    });
    if (watch.magic !== MAGIC_CENTS.insufficientFunds) {
      const amount = formatMinor(watch.expectedMinor, watch.asset.decimals);
      this.#context.timeline.at(now + this.#context.settleDelayMs, (at) =>
        this.arrive(watch, amount, fateOf(watch.magic), at),
      );
    }
    return watch;
  }

  /** An on-chain transfer to the watched address. */
  arrive(watch: DepositWatch, amount: string, fate: TxFate, at: number): void {
    if (watch.status !== 'watching') return;
    simulateTransfer(this.#context, watch.asset, { amount, fate, at }, (tx, when) => {
      watch.tx = tx;
      if (tx.state === 'seen') this.#move(watch, 'detected', when);
      else if (tx.state === 'dropped') {
        watch.failureReason = 'dropped_from_mempool';
        this.#move(watch, 'failed', when);
      } else if (tx.state === 'confirmed') this.#move(watch, 'confirmed', when);
      else if (watch.status !== 'confirming') this.#move(watch, 'confirming', when);
    });
  }

  #move(watch: DepositWatch, status: WatchStatus, at: number): void {
    watch.status = status;
    watch.updatedAt = at;
    this.#notify(watch);
  }

  #notify(watch: DepositWatch): void {
    publishRampEvent(this.#context, `deposit.${watch.status}`, watch.updatedAt, watch.id, serializeWatch(watch));
  }

  clear(): void {
    this.#watches.clear();
    this.#byReference.clear();
  }
}
