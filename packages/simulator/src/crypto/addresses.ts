import { randomBytes } from 'node:crypto';
import type { Chain } from './assets.ts';
import { base58CheckDecode, base58CheckEncode } from './base58.ts';
import { decodeSegwit, encodeSegwitV0 } from './bech32.ts';
import { keccak256 } from './keccak.ts';

/** EIP-55: hex letters upper-cased where the Keccak hash of the lower-case address has a high nibble. */
export function toChecksumAddress(address: string): string {
  const hex = address.toLowerCase().replace(/^0x/, '');
  const hash = Buffer.from(keccak256(Buffer.from(hex, 'ascii'))).toString('hex');
  return `0x${[...hex].map((c, i) => (Number.parseInt(hash[i]!, 16) >= 8 ? c.toUpperCase() : c)).join('')}`;
}

function isEvmAddress(address: string): boolean {
  if (!/^0x[0-9a-fA-F]{40}$/.test(address)) return false;
  const body = address.slice(2);
  // All one case carries no checksum; mixed case must be the EIP-55 checksum.
  if (body === body.toLowerCase() || body === body.toUpperCase()) return true;
  return toChecksumAddress(address) === address;
}

function isTronAddress(address: string): boolean {
  if (!/^T[1-9A-HJ-NP-Za-km-z]{33}$/.test(address)) return false;
  const payload = base58CheckDecode(address);
  return payload?.length === 21 && payload[0] === 0x41;
}

function isBitcoinAddress(address: string): boolean {
  if (/^bc1/i.test(address)) return decodeSegwit('bc', address) !== undefined;
  if (!/^[13][1-9A-HJ-NP-Za-km-z]{25,34}$/.test(address)) return false;
  const payload = base58CheckDecode(address);
  return payload?.length === 21 && (payload[0] === 0x00 || payload[0] === 0x05);
}

/** Mainnet address check per chain, as the ramp runs it before sending anything. */
export function isValidAddress(chain: Chain, address: string): boolean {
  if (address.length > 100) return false;
  switch (chain) {
    case 'evm':
      return isEvmAddress(address);
    case 'tron':
      return isTronAddress(address);
    case 'bitcoin':
      return isBitcoinAddress(address);
  }
}

/** A fresh, valid address the ramp owns (sell orders' deposit address). */
export function newAddress(chain: Chain): string {
  const key = randomBytes(20);
  switch (chain) {
    case 'evm':
      return toChecksumAddress(`0x${key.toString('hex')}`);
    case 'tron':
      return base58CheckEncode(Buffer.concat([Buffer.from([0x41]), key]));
    case 'bitcoin':
      return encodeSegwitV0('bc', key);
  }
}

export function newTxHash(chain: Chain): string {
  const hash = randomBytes(32).toString('hex');
  return chain === 'evm' ? `0x${hash}` : hash;
}
