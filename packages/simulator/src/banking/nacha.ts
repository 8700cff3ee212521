/**
 * NACHA return codes the card/ACH processor can answer with. Unauthorized-debit
 * returns on consumer accounts may come up to 60 days after settlement; the others
 * within two banking days.
 */
export interface ReturnCode {
  code: string;
  reason: string;
  description: string;
  /** Days after settlement at which the simulator returns the debit. */
  daysAfterSettlement: number;
}

const table: ReturnCode[] = [
  { code: 'R01', reason: 'insufficient_funds', description: 'Insufficient funds', daysAfterSettlement: 2 },
  { code: 'R02', reason: 'account_closed', description: 'Account closed', daysAfterSettlement: 2 },
  { code: 'R03', reason: 'no_account', description: 'No account / unable to locate account', daysAfterSettlement: 2 },
  { code: 'R04', reason: 'invalid_account_number', description: 'Invalid account number', daysAfterSettlement: 2 },
  {
    code: 'R05',
    reason: 'unauthorized_debit_to_consumer_account',
    description: 'Unauthorized debit to consumer account using corporate SEC code',
    daysAfterSettlement: 60,
  },
  {
    code: 'R07',
    reason: 'authorization_revoked',
    description: 'Authorization revoked by customer',
    daysAfterSettlement: 60,
  },
  { code: 'R08', reason: 'payment_stopped', description: 'Payment stopped', daysAfterSettlement: 2 },
  { code: 'R09', reason: 'uncollected_funds', description: 'Uncollected funds', daysAfterSettlement: 2 },
  {
    code: 'R10',
    reason: 'unauthorized_debit',
    description: 'Customer advises originator is not known and/or not authorized',
    daysAfterSettlement: 60,
  },
  {
    code: 'R11',
    reason: 'not_in_accordance_with_authorization',
    description: 'Customer advises entry not in accordance with the terms of the authorization',
    daysAfterSettlement: 60,
  },
  { code: 'R16', reason: 'account_frozen', description: 'Account frozen', daysAfterSettlement: 2 },
  { code: 'R20', reason: 'non_transaction_account', description: 'Non-transaction account', daysAfterSettlement: 2 },
  {
    code: 'R29',
    reason: 'corporate_customer_advises_not_authorized',
    description: 'Corporate customer advises not authorized',
    daysAfterSettlement: 2,
  },
];

export const RETURN_CODES: ReadonlyMap<string, ReturnCode> = new Map(table.map((r) => [r.code, r]));
