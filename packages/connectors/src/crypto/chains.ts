import { RampartError } from '@rampart/errors';

/** The address formats Rampart derives and checks; several networks share one. */
export type Chain = 'bitcoin' | 'evm' | 'tron';

/**
 * Which address format each of Rampart's networks uses. ERC20, BEP20 and ETHEREUM are
 * all EVM chains: the same key gives the same address string on each of them.
 */
export const CHAIN_OF_NETWORK = {
  BITCOIN: 'bitcoin',
  ETHEREUM: 'evm',
  ERC20: 'evm',
  BEP20: 'evm',
  TRC20: 'tron',
} as const satisfies Record<string, Chain>;

export type AddressNetwork = keyof typeof CHAIN_OF_NETWORK;

export function isAddressNetwork(network: string): network is AddressNetwork {
  return Object.hasOwn(CHAIN_OF_NETWORK, network);
}

/** The chain of a network (any case); an unknown network is the caller's `invalid_value`. */
export function chainOf(network: string, field = 'network'): { network: AddressNetwork; chain: Chain } {
  const upper = typeof network === 'string' ? network.toUpperCase() : '';
  if (!isAddressNetwork(upper)) {
    throw new RampartError('invalid_value', {
      field,
      provided: network,
      expected: `one of ${Object.keys(CHAIN_OF_NETWORK).join(', ')}`,
    });
  }
  return { network: upper, chain: CHAIN_OF_NETWORK[upper] };
}
