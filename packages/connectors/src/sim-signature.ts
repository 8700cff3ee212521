import { createHmac, timingSafeEqual } from 'node:crypto';
import { RampartError } from '@rampart/errors';

/** Webhooks older (or newer) than this are refused: a captured delivery cannot be replayed later. */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

/**
 * Verifies the sandbox providers' signature header `t=<unix s>,v1=<hex HMAC-SHA256 of
 * "t.body">`. Several `v1` values may be present while a secret rotates.
 */
export function verifySimSignature(
  header: string | string[] | undefined,
  rawBody: string,
  secret: string,
  nowSeconds: number,
): void {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) throw new RampartError('missing_token', { header: 'x-sim-signature' });
  const parts = value.split(',').map((part) => part.trim().split('='));
  const timestamp = Number(parts.find(([k]) => k === 't')?.[1]);
  const signatures = parts.filter(([k]) => k === 'v1').map(([, v]) => v ?? '');
  if (!Number.isInteger(timestamp) || signatures.length === 0)
    throw new RampartError('invalid_token', { reason: 'malformed_signature' });
  if (Math.abs(nowSeconds - timestamp) > SIGNATURE_TOLERANCE_SECONDS)
    throw new RampartError('invalid_token', { reason: 'timestamp_outside_tolerance' });
  const expected = createHmac('sha256', secret).update(`${timestamp}.${rawBody}`).digest();
  const ok = signatures.some((candidate) => {
    const given = Buffer.from(candidate, 'hex');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  if (!ok) throw new RampartError('invalid_token', { reason: 'bad_signature' });
}

/** Parses a webhook body; anything but a JSON object is a request error, never a crash. */
export function parseWebhookBody(rawBody: string): Record<string, unknown> {
  try {
    const body = JSON.parse(rawBody) as unknown;
    if (typeof body === 'object' && body !== null && !Array.isArray(body)) return body as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new RampartError('body_undecodable', { reason: 'webhook body is not a JSON object' });
}
