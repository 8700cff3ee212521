/**
 * Parses a positive decimal string ("25.00", "0.015") with at most `decimals`
 * fraction digits into minor units. Anything else (numbers, signs, exponents, zero)
 * is undefined: providers that take decimal strings reject floats.
 */
export function parseDecimal(value: unknown, decimals: number): bigint | undefined {
  if (typeof value !== 'string' || value.length > 40) return undefined;
  const match = /^(\d{1,20})(?:\.(\d+))?$/.exec(value);
  if (!match) return undefined;
  const fraction = match[2] ?? '';
  if (fraction.length > decimals) return undefined;
  const minor = BigInt(match[1]! + fraction.padEnd(decimals, '0'));
  return minor > 0n ? minor : undefined;
}

export function formatMinor(minor: bigint, decimals: number): string {
  if (decimals === 0) return minor.toString();
  const digits = minor.toString().padStart(decimals + 1, '0');
  return `${digits.slice(0, -decimals)}.${digits.slice(-decimals)}`;
}

/**
 * The magic selector of an amount: its first two digits after the decimal point
 * ("4.01" → 1, "0.0512" → 5, "12" → 0). Integer-cent amounts use `cents % 100`.
 */
export function magicCentsOfDecimal(decimal: string): number {
  const fraction = decimal.split('.')[1] ?? '';
  return Number(fraction.padEnd(2, '0').slice(0, 2));
}

export function magicCentsOfMinor(cents: number): number {
  return cents % 100;
}
