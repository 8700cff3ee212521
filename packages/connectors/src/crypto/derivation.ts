/**
 * Deposit addresses derived from an operator's extended public key (BIP32). Rampart
 * only ever holds the public half: an extended private key is refused outright, and
 * only non-hardened children (which need no private key) are derived.
 *
 * The address for index `i` is the child `xpub/i`, so the operator should register
 * the xpub of its wallet's receiving chain (e.g. m/84'/0'/0'/0 for Bitcoin, or
 * m/44'/60'/0'/0 for EVM chains) for its wallet software to see the deposits.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { RampartError } from '@rampart/errors';
import { HDKey } from '@scure/bip32';
import { chainOf } from './chains.ts';
import { encodeAddress } from './encoding.ts';

/** Non-hardened child indexes are 0 … 2^31 - 1. */
export const MAX_CHILD_INDEX = 0x7fff_ffff;

/** What an error may echo of a key: enough to recognise it, not the key itself. */
export function describeXpub(xpub: unknown): string {
  if (typeof xpub !== 'string') return String(typeof xpub);
  if (/^[xyzt]prv/.test(xpub)) return '[private key refused]';
  return `${xpub.slice(0, 12)}…`;
}

/** Parses a mainnet xpub; anything else (private keys included) is `invalid_value`. */
export function readXpub(xpub: string, network: string): HDKey {
  const field = `crypto_xpubs.${network}`;
  const expected = 'a mainnet extended public key (xpub…); never a private key';
  let key: HDKey;
  try {
    key = HDKey.fromExtendedKey(xpub);
  } catch (error) {
    throw new RampartError('invalid_value', { field, provided: describeXpub(xpub), expected }, { cause: error });
  }
  if (key.privateKey !== null || key.publicKey === null) {
    throw new RampartError('invalid_value', { field, provided: describeXpub(xpub), expected });
  }
  return key;
}

/** Identifies a wallet without storing its key: SHA-256 of the xpub text, hex. */
export function xpubId(xpub: string): string {
  return bytesToHex(sha256(new TextEncoder().encode(xpub)));
}

/** The deposit address of child `index` of `xpub`, encoded for `network`. */
export function deriveAddress(xpub: string | HDKey, network: string, index: number): string {
  if (!Number.isInteger(index) || index < 0 || index > MAX_CHILD_INDEX) {
    throw new RangeError(`derivation index must be an integer from 0 to ${MAX_CHILD_INDEX}, got ${index}`);
  }
  const { network: upper, chain } = chainOf(network);
  const key = typeof xpub === 'string' ? readXpub(xpub, upper) : xpub;
  const child = key.deriveChild(index);
  return encodeAddress(chain, child.publicKey!);
}
