import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';

/** The HMAC key of a `whsec_…` secret: the base64-decoded part after the prefix. */
export function signingKey(secret: string): KeyObject {
  return createSecretKey(Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64'));
}

/**
 * Standard Webhooks signing: `v1,` + base64 HMAC-SHA256 over `id.timestamp.body`, keyed
 * with the base64-decoded part of `whsec_…`. With several secrets (rotation overlap) the
 * header carries one signature per secret, separated by spaces; receivers accept any.
 * Signed here with node:crypto (native HMAC) rather than the `standardwebhooks` package,
 * whose pure-JS SHA-256 is far slower; tests verify with that package.
 */
export function signatureHeader(
  secrets: readonly (string | KeyObject)[],
  id: string,
  timestampSeconds: number,
  body: string,
): string {
  return secrets
    .map((secret) => {
      const key = typeof secret === 'string' ? signingKey(secret) : secret;
      return `v1,${createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64')}`;
    })
    .join(' ');
}
