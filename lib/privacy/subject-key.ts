import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * The secret of the keyed hash that names an erased customer in the audit log
 * (customer-id.ts subjectHash). Locally a file of 32 random bytes under the local home, created
 * on first use, readable by its owner only. Losing it loses nothing but the ability to tell which
 * audit entry erased which customer; copying it with the home keeps that ability.
 */
export function loadSubjectKey(file: string): Uint8Array {
  try {
    return readKey(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  try {
    // 'wx': two processes creating it at once keep the first one's key.
    writeFileSync(file, randomBytes(32), { flag: 'wx', mode: 0o600 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  return readKey(file);
}

function readKey(file: string): Uint8Array {
  const key = readFileSync(file);
  if (key.length < 32)
    throw new Error(`${file} holds ${key.length} bytes; a subject key has 32 (delete it to make a new one)`);
  return new Uint8Array(key);
}
