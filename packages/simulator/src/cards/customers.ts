import type { ProviderContext } from '../context.ts';
import type { Fields } from '../http/fields.ts';
import { type CustomerFlag, customerFlagOf } from './magic.ts';
import { cardsError } from './wire.ts';

export interface CustomerRef {
  id: string | null;
  email: string | null;
}

/**
 * The processor's view of a customer across cards, ACH and payouts: a fraud block
 * sticks to the customer, and a required (re-)verification lasts until the customer
 * completes the processor's hosted verification page.
 */
export class CardCustomers {
  readonly #context: ProviderContext;
  #blocked = new Set<string>();
  #verified = new Set<string>();
  #verifications = new Map<string, { key: string; kind: 'reverification' | 'kyc' }>();

  constructor(context: ProviderContext) {
    this.#context = context;
  }

  #keys(customer: CustomerRef): string[] {
    return [customer.id && `id:${customer.id}`, customer.email && `email:${customer.email.toLowerCase()}`].filter(
      (key): key is string => Boolean(key),
    );
  }

  block(customer: CustomerRef): void {
    for (const key of this.#keys(customer)) this.#blocked.add(key);
  }

  /** Throws 423 / 428 / 451 when the customer may not pay now. */
  admit(customer: CustomerRef | null): void {
    if (!customer) return;
    const keys = this.#keys(customer);
    const flag: CustomerFlag | undefined = customerFlagOf(customer.email);
    if (flag === 'blocked') this.block(customer);
    if (keys.some((key) => this.#blocked.has(key))) throw this.blockedError(customer);
    if ((flag === 'reverification' || flag === 'kyc') && !keys.some((key) => this.#verified.has(key))) {
      const token = this.#context.newId('cver');
      this.#verifications.set(token, { key: keys[0]!, kind: flag });
      const url = `${this.#context.publicUrl()}/cards/verify/${token}`;
      if (flag === 'reverification') {
        throw cardsError(428, {
          type: 'invalid_request_error',
          code: 'reverification_required',
          message: 'The customer must re-verify their identity before paying.',
          details: { verification_url: url },
        });
      }
      throw cardsError(451, {
        type: 'invalid_request_error',
        code: 'kyc_required',
        message: 'KYC verification is required before processing this transaction.',
        details: { kyc_url: url },
      });
    }
  }

  blockedError(customer: CustomerRef) {
    return cardsError(423, {
      type: 'card_error',
      code: 'customer_blocked',
      message: 'The customer has been blocked by fraud checks.',
      details: { customer_id: customer.id, customer_email: customer.email },
    });
  }

  verification(token: string) {
    return this.#verifications.get(token);
  }

  completeVerification(token: string): boolean {
    const verification = this.#verifications.get(token);
    if (!verification) return false;
    this.#verified.add(verification.key);
    this.#verifications.delete(token);
    return true;
  }

  clear(): void {
    this.#blocked.clear();
    this.#verified.clear();
    this.#verifications.clear();
  }
}

export function readCustomer(customer: Fields | undefined): CustomerRef | null {
  if (!customer) return null;
  const id = customer.optionalString('id', { max: 100 }) ?? null;
  const email = customer.optionalString('email', { max: 254, pattern: /^[^@\s]+@[^@\s]+$/ }) ?? null;
  return id || email ? { id, email } : null;
}
