import { randomBytes } from 'node:crypto';

export { parseSecretsKey, SecretBox } from '@rampart/core';

/** `whsec_` and 32 random bytes in base64, the Standard Webhooks secret format. */
export function generateSigningSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}
