/** Bech32 (BIP-173) and Bech32m (BIP-350) for Bitcoin segwit addresses. */
const CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const GENERATORS = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
const BECH32 = 1;
const BECH32M = 0x2bc830a3;

function polymod(values: number[]): number {
  let check = 1;
  for (const value of values) {
    const top = check >>> 25;
    check = ((check & 0x1ffffff) << 5) ^ value;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) check ^= GENERATORS[i]!;
  }
  return check >>> 0;
}

function expandHrp(hrp: string): number[] {
  const codes = [...hrp].map((c) => c.charCodeAt(0));
  return [...codes.map((c) => c >> 5), 0, ...codes.map((c) => c & 31)];
}

function convertBits(data: number[], from: number, to: number, pad: boolean): number[] | undefined {
  let accumulator = 0;
  let bits = 0;
  const out: number[] = [];
  const max = (1 << to) - 1;
  for (const value of data) {
    accumulator = (accumulator << from) | value;
    bits += from;
    while (bits >= to) {
      bits -= to;
      out.push((accumulator >> bits) & max);
    }
  }
  if (pad && bits > 0) out.push((accumulator << (to - bits)) & max);
  else if (!pad && (bits >= from || ((accumulator << (to - bits)) & max) !== 0)) return undefined;
  return out;
}

/** The witness version and program of a valid segwit address for `hrp` ("bc"), else undefined. */
export function decodeSegwit(hrp: string, address: string): { version: number; program: number[] } | undefined {
  if (address !== address.toLowerCase() && address !== address.toUpperCase()) return undefined;
  const text = address.toLowerCase();
  const split = text.lastIndexOf('1');
  if (split < 1 || text.length > 90 || text.slice(0, split) !== hrp || text.length - split - 1 < 7) return undefined;
  const data: number[] = [];
  for (const char of text.slice(split + 1)) {
    const value = CHARSET.indexOf(char);
    if (value < 0) return undefined;
    data.push(value);
  }
  const check = polymod([...expandHrp(hrp), ...data]);
  const version = data[0]!;
  if (check !== (version === 0 ? BECH32 : BECH32M)) return undefined;
  const program = convertBits(data.slice(1, -6), 5, 8, false);
  if (!program || program.length < 2 || program.length > 40 || version > 16) return undefined;
  if (version === 0 && program.length !== 20 && program.length !== 32) return undefined;
  return { version, program };
}

export function encodeSegwitV0(hrp: string, program: Uint8Array): string {
  const data = [0, ...convertBits([...program], 8, 5, true)!];
  const check = polymod([...expandHrp(hrp), ...data, 0, 0, 0, 0, 0, 0]) ^ BECH32;
  const checksum = Array.from({ length: 6 }, (_, i) => (check >>> (5 * (5 - i))) & 31);
  return `${hrp}1${[...data, ...checksum].map((v) => CHARSET[v]).join('')}`;
}
