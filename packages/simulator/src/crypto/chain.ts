import { isoAt } from '../clock.ts';
import type { ProviderContext } from '../context.ts';
import { MAGIC_CENTS } from '../magic.ts';
import { newTxHash } from './addresses.ts';
import type { AssetOnNetwork } from './assets.ts';

/** confirm: mined and confirmed; stuck: seen, never mined; drop: seen, then dropped from the mempool. */
export type TxFate = 'confirm' | 'stuck' | 'drop';

export interface ChainTx {
  hash: string;
  amount: string;
  confirmations: number;
  required: number;
  state: 'seen' | 'confirming' | 'confirmed' | 'dropped';
  seenAt: number;
  confirmedAt: number | null;
}

export function serializeTx(tx: ChainTx | null) {
  if (!tx) return null;
  return {
    tx_hash: tx.hash,
    amount: tx.amount,
    confirmations: tx.confirmations,
    required_confirmations: tx.required,
    detected_at: isoAt(tx.seenAt),
    confirmed_at: tx.confirmedAt === null ? null : isoAt(tx.confirmedAt),
  };
}

/**
 * A simulated on-chain transfer seen at `at`: one block per block interval until the
 * network's required confirmations. `onBlock` runs when it is seen (synchronously, before
 * this returns: callers keep the tx from the callback) and on every block after.
 */
export function simulateTransfer(
  context: ProviderContext,
  asset: AssetOnNetwork,
  input: { amount: string; fate: TxFate; at: number },
  onBlock: (tx: ChainTx, at: number) => void,
): ChainTx {
  const tx: ChainTx = {
    hash: newTxHash(asset.chain),
    amount: input.amount,
    confirmations: 0,
    required: asset.confirmations,
    state: 'seen',
    seenAt: input.at,
    confirmedAt: null,
  };
  onBlock(tx, input.at);
  const interval = context.blockIntervalMs;
  if (input.fate === 'drop') {
    context.timeline.at(input.at + 2 * interval, (at) => {
      tx.state = 'dropped';
      onBlock(tx, at);
    });
  } else if (input.fate === 'confirm') {
    const mine = (at: number) => {
      tx.confirmations += 1;
      tx.state = tx.confirmations >= tx.required ? 'confirmed' : 'confirming';
      if (tx.state === 'confirmed') tx.confirmedAt = at;
      onBlock(tx, at);
      if (tx.state !== 'confirmed') context.timeline.at(at + interval, mine);
    };
    context.timeline.at(input.at + interval, mine);
  }
  return tx;
}

/** What a magic amount does to a transfer. */
export function fateOf(magic: number): TxFate {
  if (magic === MAGIC_CENTS.pendingForever) return 'stuck';
  if (magic === MAGIC_CENTS.failsLater) return 'drop';
  return 'confirm';
}
