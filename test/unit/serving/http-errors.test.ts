import { describe, expect, it } from '@jest/globals';
import { InputError } from '#lib/errors.ts';
import { FeatureStoreUnavailableError } from '#lib/ports/feature-store.ts';
import { httpErrorFor } from '#lib/serving/http-errors.ts';
import { NonFiniteProbabilityError } from '#lib/serving/predictor.ts';

describe('error to HTTP answer', () => {
  it.each([
    ['INVALID_JSON', 400],
    ['INVALID_ID', 400],
    ['UNKNOWN_CUSTOMER', 404],
    ['NOT_FOUND', 404],
    ['METHOD_NOT_ALLOWED', 405],
    ['AS_OF_BEFORE_SNAPSHOT', 409],
    ['PAYLOAD_TOO_LARGE', 413],
    ['SOME_NEW_INPUT_CODE', 400],
  ])('an InputError %s is a %d with the same code and message', (code, status) => {
    const answer = httpErrorFor(new InputError(code, `message for ${code}`));
    expect(answer.statusCode).toBe(status);
    expect(answer.body).toEqual({ error: { code, message: `message for ${code}` } });
  });

  it('a client mistake is never a 5xx', () => {
    for (const code of ['X', 'INVALID_ID', 'UNKNOWN_CUSTOMER', 'PAYLOAD_TOO_LARGE']) {
      const s = httpErrorFor(new InputError(code, 'm')).statusCode;
      expect(s).toBeGreaterThanOrEqual(400);
      expect(s).toBeLessThan(500);
    }
  });

  it('405 names the allowed method', () => {
    expect(httpErrorFor(new InputError('METHOD_NOT_ALLOWED', 'm')).headers).toEqual({ allow: 'POST' });
  });

  it('an unreachable feature store is a 503 FEATURE_STORE_UNAVAILABLE with Retry-After', () => {
    const answer = httpErrorFor(new FeatureStoreUnavailableError('ECONNREFUSED 10.0.0.1:5432'));
    expect(answer.statusCode).toBe(503);
    expect(answer.body.error.code).toBe('FEATURE_STORE_UNAVAILABLE');
    expect(answer.headers['retry-after']).toMatch(/^\d+$/);
    // The database address is internal: it goes to the log, not to the client.
    expect(answer.body.error.message).not.toContain('10.0.0.1');
  });

  it('a non-finite probability is a 503 NON_FINITE_PROBABILITY in the error shape, naming no value', () => {
    const answer = httpErrorFor(new NonFiniteProbabilityError('v1', Number.NaN));
    expect(answer.statusCode).toBe(503);
    expect(answer.body).toEqual({
      error: {
        code: 'NON_FINITE_PROBABILITY',
        message: 'the model produced no valid probability; it has been logged',
      },
    });
  });

  it('an unexpected error is a 500 that reveals nothing of it', () => {
    const answer = httpErrorFor(new TypeError('cannot read properties of undefined (secret path /opt/x)'));
    expect(answer.statusCode).toBe(500);
    expect(answer.body.error.code).toBe('INTERNAL_ERROR');
    expect(answer.body.error.message).not.toContain('/opt/x');
  });
});
