/**
 * Payout addresses are checked before anything is sent: a typo in an address is money
 * lost for good, and every format below carries a checksum that catches typos.
 *
 * - Bitcoin (mainnet only): SegWit bech32 (v0, BIP-173) or bech32m (v1+, BIP-350)
 *   with HRP `bc`, or legacy base58check P2PKH (`1…`, version 0x00) / P2SH (`3…`, 0x05).
 * - EVM: `0x` + 40 hex; all one case carries no checksum and is accepted, mixed case
 *   must be exactly the EIP-55 checksum.
 * - TRON: base58check of 21 bytes with version 0x41 (`T…`, 34 characters).
 */
import { RampartError } from '@rampart/errors';
import { bech32, bech32m } from '@scure/base';
import { type Chain, chainOf } from './chains.ts';
import { base58check, TRON_VERSION, toChecksumAddress } from './encoding.ts';

const MAX_ADDRESS_LENGTH = 100;
const BASE58 = '[1-9A-HJ-NP-Za-km-z]';
const LEGACY_BITCOIN = new RegExp(`^[13]${BASE58}{25,34}$`);
const TRON = new RegExp(`^T${BASE58}{33}$`);

export const EXPECTED_ADDRESS: Record<Chain, string> = {
  bitcoin: 'a mainnet Bitcoin address: bech32 or bech32m (bc1…), or base58check P2PKH (1…) or P2SH (3…)',
  evm: 'an EVM address: 0x and 40 hex digits; mixed case must match the EIP-55 checksum',
  tron: 'a TRON address: base58check with version 0x41 (T…, 34 characters)',
};

function decodeBase58check(text: string): Uint8Array | undefined {
  try {
    return base58check.decode(text);
  } catch {
    return undefined;
  }
}

function isSegwit(address: string): boolean {
  // Version 0 programs use bech32, later versions bech32m (BIP-350): a checksum of the
  // other kind is refused, or a mistyped version would still pass.
  const asBech32 = bech32.decodeUnsafe(address, 90);
  const decoded = asBech32 || bech32m.decodeUnsafe(address, 90);
  if (decoded?.prefix !== 'bc' || decoded.words.length < 1) return false;
  const [version, ...data] = decoded.words as [number, ...number[]];
  if (version > 16 || (version === 0) !== Boolean(asBech32)) return false;
  const program = bech32.fromWordsUnsafe(data);
  if (!program || program.length < 2 || program.length > 40) return false;
  return version !== 0 || program.length === 20 || program.length === 32;
}

function isBitcoin(address: string): boolean {
  if (/^bc1/i.test(address)) return isSegwit(address);
  if (!LEGACY_BITCOIN.test(address)) return false;
  const payload = decodeBase58check(address);
  return payload?.length === 21 && (payload[0] === 0x00 || payload[0] === 0x05);
}

function isEvm(address: string): boolean {
  if (!/^0x[0-9a-fA-F]{40}$/.test(address)) return false;
  const hex = address.slice(2);
  if (hex === hex.toLowerCase() || hex === hex.toUpperCase()) return true;
  return toChecksumAddress(hex) === address;
}

function isTron(address: string): boolean {
  if (!TRON.test(address)) return false;
  const payload = decodeBase58check(address);
  return payload?.length === 21 && payload[0] === TRON_VERSION;
}

/** Whether `address` is a valid mainnet address on `network`, checksum included. */
export function isValidAddress(network: string, address: string): boolean {
  if (typeof address !== 'string' || address.length > MAX_ADDRESS_LENGTH) return false;
  switch (chainOf(network).chain) {
    case 'bitcoin':
      return isBitcoin(address);
    case 'evm':
      return isEvm(address);
    case 'tron':
      return isTron(address);
  }
}

/**
 * The payout address, checked for `network`: missing is `missing_parameter`, anything
 * invalid is `invalid_value` naming the field and the format expected.
 */
export function assertPayoutAddress(network: string, address: unknown, field = 'instrument.address'): string {
  if (address === undefined || address === null || address === '')
    throw new RampartError('missing_parameter', { field });
  const { chain } = chainOf(network);
  if (typeof address !== 'string' || !isValidAddress(network, address)) {
    const provided =
      typeof address === 'string' && address.length > MAX_ADDRESS_LENGTH
        ? `${address.slice(0, MAX_ADDRESS_LENGTH)}…`
        : address;
    throw new RampartError('invalid_value', { field, provided, expected: EXPECTED_ADDRESS[chain] });
  }
  return address;
}
