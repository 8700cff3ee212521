import { isoAt } from '../clock.ts';
import type { ProviderContext } from '../context.ts';
import { ReferenceIndex } from '../http/references.ts';
import { MAGIC_CENTS } from '../magic.ts';
import { formatMinor } from '../money.ts';
import type { AssetOnNetwork } from './assets.ts';
import { type ChainTx, fateOf, serializeTx, simulateTransfer } from './chain.ts';
import { publishRampEvent } from './events.ts';

export type WithdrawalStatus = 'pending' | 'broadcast' | 'confirming' | 'completed' | 'failed';

export interface Withdrawal {
  id: string;
  asset: AssetOnNetwork;
  address: string;
  amountMinor: bigint;
  reference: string;
  magic: number;
  status: WithdrawalStatus;
  tx: ChainTx | null;
  failureReason: string | null;
  createdAt: number;
  updatedAt: number;
}

export function serializeWithdrawal(withdrawal: Withdrawal) {
  return {
    withdrawal_id: withdrawal.id,
    status: withdrawal.status,
    asset: withdrawal.asset.asset,
    network: withdrawal.asset.network,
    address: withdrawal.address,
    amount: formatMinor(withdrawal.amountMinor, withdrawal.asset.decimals),
    reference: withdrawal.reference,
    tx_hash: withdrawal.tx?.hash ?? null,
    failure_reason: withdrawal.failureReason,
    transaction: serializeTx(withdrawal.tx),
    created_at: isoAt(withdrawal.createdAt),
    updated_at: isoAt(withdrawal.updatedAt),
  };
}

/** Payouts to an address: pending → broadcast (tx hash) → confirming → completed, or failed. */
export class Withdrawals {
  readonly #context: ProviderContext;
  #withdrawals = new Map<string, Withdrawal>();
  #byReference = new ReferenceIndex<Withdrawal>();

  constructor(context: ProviderContext) {
    this.#context = context;
  }

  get(id: string): Withdrawal | undefined {
    return this.#withdrawals.get(id);
  }

  /** The latest withdrawal created with this `reference`. */
  byReference(reference: string): Withdrawal | undefined {
    return this.#byReference.find(reference);
  }

  create(input: Pick<Withdrawal, 'asset' | 'address' | 'amountMinor' | 'reference' | 'magic'>): Withdrawal {
    const now = this.#context.clock.nowMs();
    const withdrawal: Withdrawal = {
      id: this.#context.newId('wd'),
      ...input,
      status: 'pending',
      tx: null,
      failureReason: null,
      createdAt: now,
      updatedAt: now,
    };
    this.#withdrawals.set(withdrawal.id, withdrawal);
    this.#byReference.remember(withdrawal.reference, withdrawal);
    this.#notify(withdrawal);
    this.#context.timeline.at(now + this.#context.settleDelayMs, (at) => this.#broadcast(withdrawal, at));
    return withdrawal;
  }

  #broadcast(withdrawal: Withdrawal, at: number): void {
    if (withdrawal.magic === MAGIC_CENTS.failsLater) {
      withdrawal.failureReason = 'broadcast_rejected';
      this.#move(withdrawal, 'failed', at);
      return;
    }
    const amount = formatMinor(withdrawal.amountMinor, withdrawal.asset.decimals);
    simulateTransfer(this.#context, withdrawal.asset, { amount, fate: fateOf(withdrawal.magic), at }, (tx, when) => {
      withdrawal.tx = tx;
      if (tx.state === 'seen') this.#move(withdrawal, 'broadcast', when);
      else if (tx.state === 'confirmed') this.#move(withdrawal, 'completed', when);
      else if (withdrawal.status !== 'confirming') this.#move(withdrawal, 'confirming', when);
    });
  }

  #move(withdrawal: Withdrawal, status: WithdrawalStatus, at: number): void {
    withdrawal.status = status;
    withdrawal.updatedAt = at;
    this.#notify(withdrawal);
  }

  #notify(withdrawal: Withdrawal): void {
    publishRampEvent(
      this.#context,
      `withdrawal.${withdrawal.status}`,
      withdrawal.updatedAt,
      withdrawal.id,
      serializeWithdrawal(withdrawal),
    );
  }

  clear(): void {
    this.#withdrawals.clear();
    this.#byReference.clear();
  }
}
