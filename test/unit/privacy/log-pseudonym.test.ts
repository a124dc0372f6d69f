import { describe, expect, it } from '@jest/globals';
import { createHmac } from 'node:crypto';
import { logPseudonym, logPseudonymFor, withoutId } from '#lib/privacy/log-pseudonym.ts';

const KEY = 'a'.repeat(64);

describe('logPseudonym', () => {
  it('is the first 16 hex digits of HMAC-SHA256 under the key, leading zeros dropped as ids are numbers', () => {
    const full = createHmac('sha256', KEY).update('5008827').digest('hex');
    expect(logPseudonym('5008827', KEY)).toBe(full.slice(0, 16));
    expect(logPseudonym('005008827', KEY)).toBe(logPseudonym('5008827', KEY));
    expect(logPseudonym('5008827', 'b'.repeat(64))).not.toBe(logPseudonym('5008827', KEY));
  });

  it('without a key of at least 32 characters names nobody', () => {
    expect(logPseudonymFor(undefined)('5008827')).toBeUndefined();
    expect(logPseudonymFor('short')('5008827')).toBeUndefined();
    expect(logPseudonymFor(KEY)('5008827')).toBe(logPseudonym('5008827', KEY));
    expect(logPseudonymFor(KEY)(undefined)).toBeUndefined();
  });

  it('names an id the same through the reused key object as through the key text, zeros or not', () => {
    const named = logPseudonymFor(`é${KEY}`);
    for (const id of ['5008827', '005008827', '0', '000', '10'])
      expect(named(id)).toBe(logPseudonym(id, `é${KEY}`));
    expect(named('0')).toBe(createHmac('sha256', `é${KEY}`).update('0').digest('hex').slice(0, 16));
    expect(named('000')).toBe(named('0'));
  });
});

describe('withoutId', () => {
  it('replaces whole-token mentions only', () => {
    expect(withoutId('no row for id 5008827 (select ... 5008827)', '5008827')).toBe(
      'no row for id <customer> (select ... <customer>)',
    );
    expect(withoutId('150088270 is another', '5008827')).toBe('150088270 is another');
    expect(withoutId('text', undefined)).toBe('text');
  });
});
