import type { ProviderError } from './dialect.ts';

/** How a provider words "this field is wrong" in its own format. */
export type Invalid = (field: string, message: string) => ProviderError;

/**
 * Reads request fields and throws the provider's own validation error, naming the
 * field by its dotted path (`bank_account.routing_number`).
 */
export class Fields {
  readonly #body: Record<string, unknown>;
  readonly #invalid: Invalid;
  readonly #path: string;

  constructor(body: unknown, invalid: Invalid, path = '') {
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      throw invalid(path || 'body', `${path || 'body'} must be an object`);
    }
    this.#body = body as Record<string, unknown>;
    this.#invalid = invalid;
    this.#path = path;
  }

  #name(name: string): string {
    return this.#path ? `${this.#path}.${name}` : name;
  }

  has(name: string): boolean {
    return this.#body[name] !== undefined && this.#body[name] !== null;
  }

  raw(name: string): unknown {
    return this.#body[name];
  }

  fail(name: string, message: string): ProviderError {
    return this.#invalid(this.#name(name), message);
  }

  string(name: string, options: { max?: number; pattern?: RegExp } = {}): string {
    const value = this.optionalString(name, options);
    if (value === undefined) throw this.fail(name, `${this.#name(name)} is required`);
    return value;
  }

  optionalString(name: string, options: { max?: number; pattern?: RegExp } = {}): string | undefined {
    const value = this.#body[name];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string' || value.trim() === '') {
      throw this.fail(name, `${this.#name(name)} must be a non-empty string`);
    }
    if (value.length > (options.max ?? 200)) throw this.fail(name, `${this.#name(name)} is too long`);
    if (options.pattern && !options.pattern.test(value)) throw this.fail(name, `${this.#name(name)} is not valid`);
    return value;
  }

  integer(name: string, options: { min?: number; max?: number } = {}): number {
    const value = this.#body[name];
    if (value === undefined || value === null) throw this.fail(name, `${this.#name(name)} is required`);
    const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = options;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
      throw this.fail(name, `${this.#name(name)} must be an integer from ${min} to ${max}`);
    }
    return value;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback?: T): T {
    const value = this.#body[name] ?? fallback;
    if (!(allowed as readonly unknown[]).includes(value)) {
      throw this.fail(name, `${this.#name(name)} must be one of ${allowed.join(', ')}`);
    }
    return value as T;
  }

  object(name: string): Fields {
    if (!this.has(name)) throw this.fail(name, `${this.#name(name)} is required`);
    return new Fields(this.#body[name], this.#invalid, this.#name(name));
  }

  optionalObject(name: string): Fields | undefined {
    return this.has(name) ? this.object(name) : undefined;
  }

  /** A flat map of short strings, as providers accept for merchant metadata. */
  metadata(name: string): Record<string, string> {
    if (!this.has(name)) return {};
    const value = this.#body[name];
    if (typeof value !== 'object' || Array.isArray(value))
      throw this.fail(name, `${this.#name(name)} must be an object`);
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length > 20 || entries.some(([, v]) => typeof v !== 'string' || v.length > 500)) {
      throw this.fail(name, `${this.#name(name)} takes at most 20 string values`);
    }
    return Object.fromEntries(entries) as Record<string, string>;
  }

  url(name: string): string {
    const value = this.string(name, { max: 2000 });
    if (!URL.canParse(value) || !/^https?:$/.test(new URL(value).protocol)) {
      throw this.fail(name, `${this.#name(name)} must be an http(s) URL`);
    }
    return value;
  }

  optionalUrl(name: string): string | undefined {
    return this.has(name) ? this.url(name) : undefined;
  }
}
