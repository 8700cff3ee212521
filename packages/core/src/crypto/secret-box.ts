import { createCipheriv, createDecipheriv, createSecretKey, hkdfSync, type KeyObject, randomBytes } from 'node:crypto';

const FORMAT_V1 = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** 32 bytes given as 64 hex digits or as base64 (standard or URL-safe). */
export function parseSecretsKey(text: string): Buffer | undefined {
  const trimmed = text.trim();
  if (/^[0-9a-f]{64}$/i.test(trimmed)) return Buffer.from(trimmed, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(trimmed)) {
    const key = Buffer.from(trimmed, 'base64');
    if (key.length === 32) return key;
  }
  return undefined;
}

/**
 * Encrypts small secrets at rest with AES-256-GCM. The record binds the ciphertext to
 * its owner (`context`, e.g. the endpoint id) as associated data, so a ciphertext
 * copied onto another row fails to decrypt instead of signing for the wrong endpoint.
 */
export class SecretBox {
  /** Made once: a raw key given to every cipher would be turned into a key object on each call. */
  private readonly key: KeyObject;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error('the secrets key must be 32 bytes');
    this.key = createSecretKey(key);
  }

  /**
   * A box keyed from Rampart's master secret (RAMPART_SECRETS_KEY) through HKDF, one
   * key per `purpose`, so a key protecting one kind of secret protects nothing else.
   */
  static derive(masterSecret: Buffer, purpose: string): SecretBox {
    return new SecretBox(Buffer.from(hkdfSync('sha256', masterSecret, '', purpose, 32)));
  }

  /** The box for webhook signing secrets. */
  static forWebhookSecrets(masterSecret: Buffer): SecretBox {
    return SecretBox.derive(masterSecret, 'rampart/webhook-signing-secrets/v1');
  }

  seal(plaintext: string, context: string): Buffer {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce);
    cipher.setAAD(Buffer.from(context));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return Buffer.concat([Buffer.of(FORMAT_V1), nonce, body, cipher.getAuthTag()]);
  }

  /** Throws when the key is not the one that sealed it or the record was tampered with. */
  open(sealed: Buffer, context: string): string {
    if (sealed.length < 1 + NONCE_BYTES + TAG_BYTES || sealed[0] !== FORMAT_V1)
      throw new Error('not a sealed secret (unknown format)');
    const nonce = sealed.subarray(1, 1 + NONCE_BYTES);
    const tag = sealed.subarray(sealed.length - TAG_BYTES);
    const decipher = createDecipheriv('aes-256-gcm', this.key, nonce);
    decipher.setAAD(Buffer.from(context));
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(sealed.subarray(1 + NONCE_BYTES, -TAG_BYTES)), decipher.final()]).toString(
        'utf8',
      );
    } catch (error) {
      throw new Error(
        'cannot decrypt a sealed secret: RAMPART_SECRETS_KEY differs from the one used, or the record was altered',
        {
          cause: error,
        },
      );
    }
  }
}
