/**
 * Address encodings from a compressed secp256k1 public key, one per chain:
 * - Bitcoin: native SegWit v0 P2WPKH, bech32 with HRP `bc` (BIP-173), of HASH160(pubkey);
 * - EVM: the last 20 bytes of Keccak-256 of the uncompressed key (without its 0x04
 *   prefix), written with the EIP-55 mixed-case checksum;
 * - TRON: the same 20 bytes behind version byte 0x41, base58check (double SHA-256).
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { ripemd160 } from '@noble/hashes/legacy.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { bech32, createBase58check } from '@scure/base';
import type { Chain } from './chains.ts';

export const base58check = createBase58check(sha256);

export const TRON_VERSION = 0x41;

export function hash160(bytes: Uint8Array): Uint8Array {
  return ripemd160(sha256(bytes));
}

export function p2wpkhAddress(publicKey: Uint8Array): string {
  return bech32.encode('bc', [0, ...bech32.toWords(hash160(publicKey))]);
}

/** The 20-byte account of an EVM or TRON key. */
export function evmAccount(publicKey: Uint8Array): Uint8Array {
  const uncompressed = secp256k1.Point.fromBytes(publicKey).toBytes(false);
  return keccak_256(uncompressed.subarray(1)).subarray(12);
}

/** EIP-55: a hex letter is upper case where the Keccak-256 of the lower-case hex has a nibble >= 8. */
export function toChecksumAddress(hex40: string): string {
  const lower = hex40.toLowerCase().replace(/^0x/, '');
  const hash = bytesToHex(keccak_256(new TextEncoder().encode(lower)));
  let out = '0x';
  for (let i = 0; i < lower.length; i++) {
    out += Number.parseInt(hash[i]!, 16) >= 8 ? lower[i]!.toUpperCase() : lower[i]!;
  }
  return out;
}

export function evmAddress(publicKey: Uint8Array): string {
  return toChecksumAddress(bytesToHex(evmAccount(publicKey)));
}

export function tronAddress(publicKey: Uint8Array): string {
  const account = evmAccount(publicKey);
  const payload = new Uint8Array(21);
  payload[0] = TRON_VERSION;
  payload.set(account, 1);
  return base58check.encode(payload);
}

export function encodeAddress(chain: Chain, publicKey: Uint8Array): string {
  switch (chain) {
    case 'bitcoin':
      return p2wpkhAddress(publicKey);
    case 'evm':
      return evmAddress(publicKey);
    case 'tron':
      return tronAddress(publicKey);
  }
}
