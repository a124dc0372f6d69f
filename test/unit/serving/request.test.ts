import { describe, expect, it } from '@jest/globals';
import { InputError } from '#lib/errors.ts';
import { MAX_BODY_BYTES, parsePredictRequest } from '#lib/serving/request.ts';

function codeOf(body: string | null, base64 = false): string {
  try {
    parsePredictRequest(body, base64);
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    return (e as InputError).code;
  }
  throw new Error('expected an InputError');
}

describe('predict request body', () => {
  it('accepts a numeric-string id', () => {
    expect(parsePredictRequest('{"id": "5008827"}')).toEqual({ id: '5008827' });
  });

  it('ignores extra fields a client adds', () => {
    expect(parsePredictRequest('{"id": "5008827", "traceId": "abc"}')).toEqual({ id: '5008827' });
  });

  it('accepts explain as a JSON boolean', () => {
    expect(parsePredictRequest('{"id": "5008827", "explain": true}')).toEqual({
      id: '5008827',
      explain: true,
    });
    expect(parsePredictRequest('{"id": "5008827", "explain": false}')).toEqual({
      id: '5008827',
      explain: false,
    });
  });

  it.each([
    ['a string', '"yes"', /got the string "yes"/],
    ['a number', '1', /got the number 1/],
    ['null', 'null', /got null/],
    ['an object', '{}', /got an object/],
  ])('refuses explain as %s (INVALID_EXPLAIN, with the body to send)', (_name, explain, message) => {
    const body = `{"id": "5008827", "explain": ${explain}}`;
    expect(codeOf(body)).toBe('INVALID_EXPLAIN');
    expect(() => parsePredictRequest(body)).toThrow(message);
    expect(() => parsePredictRequest(body)).toThrow(/"explain": true/);
  });

  it('a bad id is reported before a bad explain', () => {
    expect(codeOf('{"id": 5, "explain": "yes"}')).toBe('INVALID_ID');
  });

  it('decodes a base64 body as API Gateway may send it', () => {
    const body = Buffer.from('{"id":"42"}').toString('base64');
    expect(parsePredictRequest(body, true)).toEqual({ id: '42' });
  });

  it('refuses a JSON number id with a message that shows the string form', () => {
    expect(codeOf('{"id": 5008827}')).toBe('INVALID_ID');
    expect(() => parsePredictRequest('{"id": 5008827}')).toThrow(
      /must be a string of digits, got the number 5008827/,
    );
  });

  it.each([
    ['missing id', '{}', /"id" is missing/],
    ['null id', '{"id": null}', /got null/],
    ['boolean id', '{"id": true}', /got boolean/],
    ['non-numeric id', '{"id": "abc"}', /got "abc"/],
    ['empty id', '{"id": ""}', /1 to 20 digits/],
    ['signed id', '{"id": "-5"}', /1 to 20 digits/],
    ['id with spaces', '{"id": " 5008827"}', /1 to 20 digits/],
    ['overlong id', `{"id": "${'1'.repeat(21)}"}`, /1 to 20 digits/],
  ])('refuses a %s as INVALID_ID', (_name, body, message) => {
    expect(codeOf(body)).toBe('INVALID_ID');
    expect(() => parsePredictRequest(body)).toThrow(message);
  });

  it.each([
    ['an empty body', ''],
    ['no body', null],
    ['malformed JSON', '{"id": "5008827"'],
    ['a JSON array', '["5008827"]'],
    ['a JSON string', '"5008827"'],
    ['JSON null', 'null'],
  ])('refuses %s as INVALID_JSON', (_name, body) => {
    expect(codeOf(body)).toBe('INVALID_JSON');
  });

  it('refuses a body over the limit before parsing it', () => {
    const big = JSON.stringify({ id: '1', pad: 'x'.repeat(MAX_BODY_BYTES) });
    expect(codeOf(big)).toBe('PAYLOAD_TOO_LARGE');
    expect(codeOf(Buffer.from(big).toString('base64'), true)).toBe('PAYLOAD_TOO_LARGE');
  });
});
