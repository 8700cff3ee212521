import { PROVIDERS } from './providers.ts';
import type { SimulatorOptions } from './simulator.ts';

export class ConfigError extends Error {}

function integer(env: Record<string, string | undefined>, name: string, fallback: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > max)
    throw new ConfigError(`${name} must be an integer from 0 to ${max}`);
  return value;
}

function url(env: Record<string, string | undefined>, name: string): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  if (!URL.canParse(raw)) throw new ConfigError(`${name} must be an absolute URL`);
  return raw;
}

/** The standalone simulator's options from the environment (README, "Running it"). */
export function loadConfig(env: Record<string, string | undefined> = process.env): SimulatorOptions {
  const options: SimulatorOptions = {
    port: integer(env, 'PORT', 4100, 65_535),
    host: env['HOST'] || '127.0.0.1',
    settleDelayMs: integer(env, 'SIMULATOR_SETTLE_DELAY_MS', 2000, 86_400_000),
    blockIntervalMs: integer(env, 'SIMULATOR_BLOCK_INTERVAL_MS', 1000, 3_600_000),
    webhookTargets: {},
    secrets: {},
  };
  const publicUrl = url(env, 'SIMULATOR_PUBLIC_URL');
  if (publicUrl) options.publicUrl = publicUrl;
  for (const provider of PROVIDERS) {
    const upper = provider.toUpperCase();
    const target = url(env, `SIMULATOR_WEBHOOK_URL_${upper}`);
    if (target) options.webhookTargets![provider] = target;
    const secret = env[`SIMULATOR_SECRET_${upper}`];
    if (secret) options.secrets![provider] = secret;
  }
  return options;
}
