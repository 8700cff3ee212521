import type { Provider } from '../providers.ts';
import type { ProviderAnswer } from './dialect.ts';

type Entry = { fingerprint: string; state: 'running' } | { fingerprint: string; state: 'done'; answer: ProviderAnswer };

export type Claim =
  | { kind: 'fresh' }
  | { kind: 'replay'; answer: ProviderAnswer }
  | { kind: 'conflict' }
  | { kind: 'in_progress' };

/** Keys kept per simulator; old ones are dropped first past this bound. */
const MAX_KEYS = 50_000;

/**
 * Idempotency keys per provider, as providers keep them: the first finished answer
 * to a key is replayed for the same request; a different request under the same key
 * is a conflict; a second request while the first still runs is "in progress".
 */
export class IdempotencyStore {
  #entries = new Map<string, Entry>();

  claim(provider: Provider, key: string, fingerprint: string): Claim {
    const id = `${provider}\u0000${key}`;
    const entry = this.#entries.get(id);
    if (!entry) {
      if (this.#entries.size >= MAX_KEYS) this.#entries.delete(this.#entries.keys().next().value!);
      this.#entries.set(id, { fingerprint, state: 'running' });
      return { kind: 'fresh' };
    }
    if (entry.fingerprint !== fingerprint) return { kind: 'conflict' };
    if (entry.state === 'running') return { kind: 'in_progress' };
    return { kind: 'replay', answer: entry.answer };
  }

  complete(provider: Provider, key: string, fingerprint: string, answer: ProviderAnswer): void {
    this.#entries.set(`${provider}\u0000${key}`, { fingerprint, state: 'done', answer });
  }

  /** A 5xx or a crash is not remembered: the client's retry must be able to succeed. */
  release(provider: Provider, key: string): void {
    this.#entries.delete(`${provider}\u0000${key}`);
  }

  clear(): void {
    this.#entries.clear();
  }
}
