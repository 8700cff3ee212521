/**
 * Keys and addresses with published expectations, and independent encoders to check
 * derived addresses against: the hashes come from @noble directly and the encodings
 * from the simulator's own bech32, base58check and EIP-55 code, not from Rampart's.
 */
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { ripemd160 } from '@noble/hashes/legacy.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { toChecksumAddress } from '../../simulator/src/crypto/addresses.ts';
import { base58CheckEncode } from '../../simulator/src/crypto/base58.ts';
import { encodeSegwitV0 } from '../../simulator/src/crypto/bech32.ts';

/** BIP32 test vector 1, chain m/0H: its children 0, 1, … are non-hardened. */
export const TEST_XPUB =
  'xpub68Gmy5EdvgibQVfPdqkBBCHxA5htiqg55crXYuXoQRKfDBFA1WEjWgP6LHhwBZeNK1VTsfTFUHCdrfp1bgwQ9xv5ski8PX9rL2dZXvgGDnw';

/** Public keys the BIP32 vector publishes for non-hardened children. */
export const BIP32_VECTOR_1 = [
  {
    path: 'm/0H/1',
    parent: TEST_XPUB,
    index: 1,
    publicKey: '03501e454bf00751f24b1b489aa925215d66af2234e3891c3b21a52bedb3cd711c',
  },
  {
    path: 'm/0H/1/2H/2',
    parent:
      'xpub6D4BDPcP2GT577Vvch3R8wDkScZWzQzMMUm3PWbmWvVJrZwQY4VUNgqFJPMM3No2dFDFGTsxxpG5uJh7n7epu4trkrX7x7DogT5Uv6fcLW5',
    index: 2,
    publicKey: '02e8445082a72f29b75ca48748a914df60622a609cacfce8ed0e35804560741d29',
  },
];

/** Another BIP32 vector 1 key, for a second wallet. */
export const OTHER_XPUB =
  'xpub661MyMwAqRbcFtXgS5sYJABqqG9YLmC4Q1Rdap9gSE8NqtwybGhePY2gZ29ESFjqJoCu1Rupje8YtGqsefD265TMg7usUDFdp6W1EGMcet8';

/** The generator point (private key 1): its addresses are published everywhere. */
export const GENERATOR_PUBKEY = '0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798';
export const GENERATOR_P2WPKH = 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4'; // BIP-173
export const GENERATOR_EVM = '0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf';

/** What each network's address of a public key must be, computed without Rampart's code. */
export function expectedAddresses(publicKeyHex: string): { BITCOIN: string; ETHEREUM: string; TRC20: string } {
  const publicKey = hexToBytes(publicKeyHex);
  const account = keccak_256(secp256k1.Point.fromHex(publicKeyHex).toBytes(false).subarray(1)).subarray(12);
  return {
    BITCOIN: encodeSegwitV0('bc', ripemd160(sha256(publicKey))),
    ETHEREUM: toChecksumAddress(`0x${bytesToHex(account)}`),
    TRC20: base58CheckEncode(new Uint8Array([0x41, ...account])),
  };
}
