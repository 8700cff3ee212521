export type Chain = 'evm' | 'tron' | 'bitcoin';

/** An asset on one network, with what the ramp needs to price and settle it. */
export interface AssetOnNetwork {
  asset: string;
  network: string;
  decimals: number;
  /** Fixed sandbox price in USD cents per whole unit. */
  usdCents: bigint;
  confirmations: number;
  chain: Chain;
}

export const ASSETS: readonly AssetOnNetwork[] = [
  { asset: 'USDT', network: 'TRC20', decimals: 6, usdCents: 100n, confirmations: 19, chain: 'tron' },
  { asset: 'USDT', network: 'ERC20', decimals: 6, usdCents: 100n, confirmations: 12, chain: 'evm' },
  { asset: 'USDT', network: 'BEP20', decimals: 6, usdCents: 100n, confirmations: 15, chain: 'evm' },
  { asset: 'USDC', network: 'ERC20', decimals: 6, usdCents: 100n, confirmations: 12, chain: 'evm' },
  { asset: 'BTC', network: 'BTC', decimals: 8, usdCents: 6_500_000n, confirmations: 2, chain: 'bitcoin' },
  { asset: 'ETH', network: 'ETH', decimals: 18, usdCents: 320_000n, confirmations: 12, chain: 'evm' },
];

export function findAsset(asset: string, network: string): AssetOnNetwork | undefined {
  return ASSETS.find((a) => a.asset === asset && a.network === network);
}
