import { describe, expect, it } from '@jest/globals';
import { InputError, isInputError } from '#lib/errors.ts';

describe('InputError', () => {
  it('carries code, message and details, and no stack frames (an answer, not a bug)', () => {
    const e = new InputError('UNKNOWN_CUSTOMER', 'no customer 5', { id: '5' });
    expect(e).toBeInstanceOf(Error);
    expect(isInputError(e)).toBe(true);
    expect([e.name, e.code, e.message, e.details]).toEqual([
      'InputError',
      'UNKNOWN_CUSTOMER',
      'no customer 5',
      { id: '5' },
    ]);
    expect(e.stack).toBe('InputError: no customer 5');
  });

  it('leaves the stack trace limit as it found it: other errors keep their frames', () => {
    const before = Error.stackTraceLimit;
    new InputError('X', 'x');
    expect(Error.stackTraceLimit).toBe(before);
    expect(new Error('bug').stack!.split('\n').length).toBeGreaterThan(1);
    expect(isInputError(new Error('bug'))).toBe(false);
  });
});
