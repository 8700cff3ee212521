import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  achReturnCodes,
  catalog,
  declineCodeForReason,
  errorCodeForAchReturn,
  operatorDeclineCodes,
} from '../src/catalog.ts';

describe('operator decline reasons', () => {
  it('maps reasons 1-9 to the nine decline codes', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8, 9].map(declineCodeForReason), [
      'withdrawal_declined',
      'withdrawal_insufficient_balance',
      'withdrawal_unavailable',
      'withdrawal_user_not_eligible',
      'withdrawal_daily_limit_exceeded',
      'withdrawal_amount_too_low',
      'withdrawal_amount_too_high',
      'withdrawal_verification_required',
      'withdrawal_suspended',
    ]);
  });

  it('falls back to the generic decline for missing or unknown reasons', () => {
    for (const reason of [undefined, null, 0, 10, -1, 2.5, 'abc', '', {}, Number.NaN]) {
      assert.equal(declineCodeForReason(reason), 'withdrawal_declined', String(reason));
    }
  });

  it('accepts reasons sent as digit strings', () => {
    assert.equal(declineCodeForReason('5'), 'withdrawal_daily_limit_exceeded');
  });

  it('only maps to 402 declines that carry reason_code, final unless the reason is temporary', () => {
    for (const code of Object.values(operatorDeclineCodes)) {
      const entry = catalog[code];
      assert.equal(entry.status, 402);
      assert.equal(entry.retryable, code === 'withdrawal_unavailable', code);
      assert.equal(entry.details['reason_code']?.required, true);
    }
  });
});

describe('ACH return codes', () => {
  it('maps the documented returns', () => {
    assert.equal(errorCodeForAchReturn('R01'), 'ach_insufficient_funds');
    assert.equal(errorCodeForAchReturn('R02'), 'ach_account_closed');
    assert.equal(errorCodeForAchReturn('R07'), 'ach_unauthorized_debit');
    assert.equal(errorCodeForAchReturn('R10'), 'ach_unauthorized_debit');
    assert.equal(errorCodeForAchReturn('R16'), 'ach_account_frozen');
  });

  it('treats every unauthorized-type return as an unauthorized debit', () => {
    for (const code of ['R05', 'R07', 'R10', 'R11', 'R29']) {
      assert.equal(errorCodeForAchReturn(code), 'ach_unauthorized_debit', code);
    }
  });

  it('sends unknown returns to ach_return_other', () => {
    for (const code of ['R99', 'X01', '', 'constructor', '__proto__']) {
      assert.equal(errorCodeForAchReturn(code), 'ach_return_other', code);
    }
  });

  it('normalises case and whitespace', () => {
    assert.equal(errorCodeForAchReturn(' r03 '), 'ach_no_account');
  });

  it('only maps to 402 non-retryable ACH codes that carry return_code and payment_id', () => {
    for (const code of new Set(Object.values(achReturnCodes))) {
      const entry = catalog[code];
      assert.match(code, /^ach_/);
      assert.equal(entry.status, 402);
      assert.equal(entry.retryable, false);
      assert.equal(entry.details['return_code']?.required, true);
      assert.equal(entry.details['payment_id']?.required, true);
    }
  });
});
