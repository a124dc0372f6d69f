import { createHash, createHmac } from 'node:crypto';

/**
 * HMAC-SHA256 (RFC 2104, FIPS 180-4) of short messages under one key, with the key's inner and
 * outer pad blocks hashed once: each message then costs two compressions in JavaScript, no
 * crossing into native code and no objects. The log pseudonym (log-pseudonym.ts) hashes one
 * customer id per request line, where node:crypto's createHmac / update / digest was ~3% of a
 * serve worker's CPU, most of it call overhead for a 7-digit message. Messages over 55 bytes (not
 * an id) go to node:crypto; a test checks both against it.
 */
const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);
const IV = new Int32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);
const BLOCK = 64;
/** The most message bytes that fit one block with the 0x80 marker and the 8-byte length. */
const MAX_ONE_BLOCK = BLOCK - 9;

/** One SHA-256 compression of the 16 big-endian words w[0..15] into state (w is overwritten). */
function compress(state: Int32Array, w: Int32Array): void {
  for (let i = 16; i < 64; i++) {
    const a = w[i - 15];
    const b = w[i - 2];
    const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
    const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
    w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
  }
  let a = state[0];
  let b = state[1];
  let c = state[2];
  let d = state[3];
  let e = state[4];
  let f = state[5];
  let g = state[6];
  let h = state[7];
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const ch = (e & f) ^ (~e & g);
    const t1 = (h + S1 + ch + K[i] + w[i]) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const maj = (a & b) ^ (a & c) ^ (b & c);
    const t2 = (S0 + maj) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  state[0] = (state[0] + a) | 0;
  state[1] = (state[1] + b) | 0;
  state[2] = (state[2] + c) | 0;
  state[3] = (state[3] + d) | 0;
  state[4] = (state[4] + e) | 0;
  state[5] = (state[5] + f) | 0;
  state[6] = (state[6] + g) | 0;
  state[7] = (state[7] + h) | 0;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * HMAC-SHA256 under `key` as lowercase hex, `hexDigits` long (even, <= 64), of each message given:
 * the same as createHmac('sha256', key).update(message, 'utf8').digest('hex').slice(0, hexDigits).
 */
export function hmacSha256Hex(key: string | Uint8Array, hexDigits = 64): (message: string) => string {
  if (hexDigits < 2 || hexDigits > 64 || hexDigits % 2 !== 0)
    throw new RangeError(`hexDigits must be even, 2..64, got ${hexDigits}`);
  let k = typeof key === 'string' ? Buffer.from(key, 'utf8') : Buffer.from(key);
  if (k.length > BLOCK) k = createHash('sha256').update(k).digest();
  const w = new Int32Array(64);
  const padded = (xor: number): Int32Array => {
    const state = IV.slice();
    for (let i = 0; i < 16; i++) {
      let word = 0;
      for (let j = 0; j < 4; j++) word = (word << 8) | ((k[i * 4 + j] ?? 0) ^ xor);
      w[i] = word;
    }
    compress(state, w);
    return state;
  };
  const inner = padded(0x36);
  const outer = padded(0x5c);
  const state = new Int32Array(8);
  const bytes = new Uint8Array(MAX_ONE_BLOCK);
  const slow = typeof key === 'string' ? key : Buffer.from(key);
  return (message) => {
    // ASCII (every customer id) is one byte a character; anything else goes through node:crypto.
    const n = message.length;
    let ascii = n <= MAX_ONE_BLOCK;
    for (let i = 0; ascii && i < n; i++) {
      const c = message.charCodeAt(i);
      if (c > 0x7f) ascii = false;
      else bytes[i] = c;
    }
    if (!ascii) return createHmac('sha256', slow).update(message, 'utf8').digest('hex').slice(0, hexDigits);
    // Inner: H(K ^ ipad || message), the pad block already in `inner`; one block left.
    w.fill(0, 0, 16);
    for (let i = 0; i < n; i++) w[i >> 2] |= bytes[i] << (24 - 8 * (i & 3));
    w[n >> 2] |= 0x80 << (24 - 8 * (n & 3));
    w[15] = (BLOCK + n) * 8;
    state.set(inner);
    compress(state, w);
    // Outer: H(K ^ opad || inner digest): 32 bytes, the marker, the length (96 bytes) in one block.
    for (let i = 0; i < 8; i++) w[i] = state[i];
    w[8] = 0x80000000;
    w.fill(0, 9, 15);
    w[15] = (BLOCK + 32) * 8;
    state.set(outer);
    compress(state, w);
    let hex = '';
    for (let i = 0; i < hexDigits / 2; i++) hex += HEX[(state[i >> 2] >>> (24 - 8 * (i & 3))) & 0xff];
    return hex;
  };
}
