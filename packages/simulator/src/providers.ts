/** The four sandbox providers, each mounted under its own path prefix. */
export const PROVIDERS = ['bank', 'cards', 'crypto', 'kyc'] as const;
export type Provider = (typeof PROVIDERS)[number];

export function isProvider(value: unknown): value is Provider {
  return typeof value === 'string' && (PROVIDERS as readonly string[]).includes(value);
}

/** `/cards/v1/payments?x=1` → `cards`; admin and unknown paths → undefined. */
export function providerOfPath(url: string): Provider | undefined {
  const first = url.split('?')[0]!.split('/')[1];
  return isProvider(first) ? first : undefined;
}
