/**
 * A provider's resources by the merchant's own reference (or the idempotency key they
 * were created under), as real providers let a merchant that never got the provider's
 * id find what it created. References need not be unique: the latest resource wins.
 * Never larger than the store it indexes, and never forgets a resource that store
 * keeps: a reference "not found" must mean nothing was created under it.
 */
export class ReferenceIndex<T> {
  #resources = new Map<string, T>();

  remember(reference: string | null, resource: T): void {
    if (reference !== null) this.#resources.set(reference, resource);
  }

  find(reference: string): T | undefined {
    return this.#resources.get(reference);
  }

  clear(): void {
    this.#resources.clear();
  }
}
