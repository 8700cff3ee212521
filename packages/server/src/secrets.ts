import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from './config.ts';

/**
 * The master secret Rampart derives its keys from (widget token signing keys; the
 * encryption key of secrets at rest). In production set RAMPART_SECRETS_KEY (32
 * random bytes, base64) on every node. Without it, one is made on first start and
 * kept in the data directory (mode 0600), which suits one machine.
 */
export function loadMasterSecret(env: string | undefined, dataDir: string): Buffer {
  if (env) {
    const key = Buffer.from(env, /^[0-9a-f]{64}$/i.test(env) ? 'hex' : 'base64');
    if (key.length !== 32) throw new ConfigError('RAMPART_SECRETS_KEY', 'expected 32 bytes, base64 or hex encoded');
    return key;
  }
  const path = join(dataDir, 'secrets.key');
  if (existsSync(path)) {
    const key = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64');
    if (key.length !== 32) throw new ConfigError('RAMPART_SECRETS_KEY', `${path} does not hold a 32-byte key`);
    return key;
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const key = randomBytes(32);
  try {
    writeFileSync(path, key.toString('base64'), { flag: 'wx', mode: 0o600 });
    return key;
  } catch {
    // Another process made it first: use theirs.
    return Buffer.from(readFileSync(path, 'utf8').trim(), 'base64');
  }
}
