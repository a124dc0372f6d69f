import { describe, expect, it } from '@jest/globals';
import { isInputError } from '#lib/errors.ts';
import {
  checkCustomerId,
  checkReason,
  isCustomerField,
  mentionPattern,
  subjectHash,
} from '#lib/privacy/customer-id.ts';

describe('the customer an erase is about', () => {
  it('an id is 1-20 digits; anything else is INVALID_ID (exit 2)', () => {
    expect(checkCustomerId('5008827')).toBe('5008827');
    for (const bad of ['', '50 08', '-1', '5008827.0', 'abc', '1'.repeat(21), '５００']) {
      let error: unknown;
      try {
        checkCustomerId(bad);
      } catch (e) {
        error = e;
      }
      expect(isInputError(error) && error.code).toBe('INVALID_ID');
    }
  });

  it('a field is the customer when it is the id, quoted, padded, or the same integer with leading zeros', () => {
    for (const f of ['5008827', ' 5008827 ', '"5008827"', '05008827', '" 0005008827"'])
      expect({ f, same: isCustomerField(f, '5008827') }).toEqual({ f, same: true });
    for (const f of ['50088270', '500882', '5008827.5', 'x5008827', '', '"50088271"'])
      expect({ f, same: isCustomerField(f, '5008827') }).toEqual({ f, same: false });
  });

  it('free text mentions the id only as a whole token, not inside a longer number or word', () => {
    const p = mentionPattern('5008827');
    for (const t of ['{"customerId":"5008827"}', 'no customer with id 5008827 in', 'id=05008827;', '5008827'])
      expect({ t, hit: p.test(t) }).toEqual({ t, hit: true });
    for (const t of ['{"customerId":"50088271"}', '15008827', 'v5008827', '0.25008827x'])
      expect({ t, hit: p.test(t) }).toEqual({ t, hit: false });
  });

  it('the audit names the customer by a keyed hash: stable for one key, another under another key, never the id', () => {
    const key = new Uint8Array(32).fill(7);
    const other = new Uint8Array(32).fill(8);
    const h = subjectHash('5008827', key);
    expect(h).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(h).not.toContain('5008827');
    expect(subjectHash('5008827', key)).toBe(h);
    expect(subjectHash('05008827', key)).toBe(h); // the same customer
    expect(subjectHash('5008828', key)).not.toBe(h);
    expect(subjectHash('5008827', other)).not.toBe(h);
    expect(() => subjectHash('5008827', new Uint8Array(8))).toThrow(/16 bytes/);
  });

  it('a reason that names the customer is refused (REASON_NAMES_CUSTOMER), other reasons pass as written', () => {
    expect(checkReason('GDPR art. 17, ticket 50088271', '5008827')).toBe('GDPR art. 17, ticket 50088271');
    let error: unknown;
    try {
      checkReason('customer 5008827 asked', '5008827');
    } catch (e) {
      error = e;
    }
    expect(isInputError(error) && error.code).toBe('REASON_NAMES_CUSTOMER');
  });
});
