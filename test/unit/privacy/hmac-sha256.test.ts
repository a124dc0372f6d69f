import { describe, expect, it } from '@jest/globals';
import { createHmac, randomBytes } from 'node:crypto';
import { hmacSha256Hex } from '#lib/privacy/hmac-sha256.ts';

const reference = (key: string | Buffer, message: string) =>
  createHmac('sha256', key).update(message, 'utf8').digest('hex');

describe('hmacSha256Hex', () => {
  it('equals node:crypto for keys short, 64-byte and long, and messages of every length 0..80', () => {
    const keys: Array<string | Buffer> = [
      'k',
      'a'.repeat(32),
      'b'.repeat(64),
      'c'.repeat(65),
      'é'.repeat(40),
      randomBytes(200),
    ];
    for (const key of keys) {
      const hmac = hmacSha256Hex(key);
      for (let n = 0; n <= 80; n++) {
        const message = Array.from({ length: n }, (_, i) =>
          String.fromCharCode(32 + ((i * 7 + n) % 95)),
        ).join('');
        expect(hmac(message)).toBe(reference(key, message));
      }
    }
  });

  it('equals node:crypto on 20,000 customer-like ids and on text that is not ASCII', () => {
    const key = randomBytes(32).toString('hex');
    const hmac = hmacSha256Hex(key, 16);
    for (let i = 0; i < 20_000; i++) {
      const id = String(Math.floor(Math.random() * 1e12));
      expect(hmac(id)).toBe(reference(key, id).slice(0, 16));
    }
    for (const text of ['5008827é', '顧客', '\u0080', '😀'.repeat(20)])
      expect(hmac(text)).toBe(reference(key, text).slice(0, 16));
  });

  it('refuses a digest length that is not whole bytes within 32', () => {
    expect(() => hmacSha256Hex('key', 15)).toThrow(RangeError);
    expect(() => hmacSha256Hex('key', 66)).toThrow(RangeError);
    expect(hmacSha256Hex('key', 2)('x')).toBe(reference('key', 'x').slice(0, 2));
  });
});
