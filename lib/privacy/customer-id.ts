import { createHmac } from 'node:crypto';
import { InputError } from '#lib/errors.ts';

/**
 * The customer being erased, and how the erasure recognises them in the places personal data
 * lives (docs/SECURITY.md, "Personal data"; docs/adr/0150-erasure-rewrites-snapshots-under-new-ids.md).
 */

const CUSTOMER_ID = /^[0-9]{1,20}$/;

/** A customer id is a string of 1-20 digits (docs/adr/0010-customer-ids-are-digit-strings.md). */
export function isCustomerId(id: unknown): id is string {
  return typeof id === 'string' && CUSTOMER_ID.test(id);
}

/** The id, or an InputError naming --id when it is not a customer id. */
export function checkCustomerId(id: string): string {
  if (!CUSTOMER_ID.test(id)) {
    const shown = id.length > 40 ? `${id.slice(0, 40)}...` : id;
    throw new InputError(
      'INVALID_ID',
      `--id must be a customer id, 1 to 20 digits; got ${JSON.stringify(shown)}`,
    );
  }
  return id;
}

/**
 * Whether one field of a record (CSV text, or a value DuckDB cast to text) is this customer's id.
 * Surrounding blanks and quotes go; digits compare as integers, because validation casts raw ids
 * to BIGINT: `05008827` and `5008827` are one customer there, so both are erased.
 */
export function isCustomerField(field: string, id: string): boolean {
  let t = field.trim();
  if (t.length >= 2 && t.startsWith('"') && t.endsWith('"')) t = t.slice(1, -1).trim();
  if (t === id) return true;
  if (!/^[0-9]{1,40}$/.test(t)) return false;
  return t.replace(/^0+(?=.)/, '') === id.replace(/^0+(?=.)/, '');
}

/**
 * The id as a whole token in free text (a log line, a JSON document): not part of a longer run of
 * letters or digits, so erasing 5008827 leaves the lines of 50088271 alone.
 */
export function mentionPattern(id: string): RegExp {
  return new RegExp(`(?<![0-9A-Za-z])0*${id.replace(/^0+(?=.)/, '')}(?![0-9A-Za-z])`);
}

/**
 * The customer as audit records name them: an HMAC-SHA256 of the id under a secret key, never the
 * id in clear. A plain hash would not do: customer ids are a few million digit strings, hashed
 * all in a second. With the key, a person can still answer "was customer X erased?" by computing
 * the same value; without it, the record names nobody.
 */
export function subjectHash(id: string, key: Uint8Array): string {
  if (key.length < 16) throw new Error('the subject key must be at least 16 bytes');
  return `hmac-sha256:${createHmac('sha256', key)
    .update(id.replace(/^0+(?=.)/, ''))
    .digest('hex')}`;
}

/** A free-text reason must not carry the id it is about (it goes into the audit log as written). */
export function checkReason(reason: string, id: string): string {
  if (mentionPattern(id).test(reason))
    throw new InputError(
      'REASON_NAMES_CUSTOMER',
      '--reason contains the customer id; the audit log records the reason as written and must not name ' +
        'the customer in clear (it records a keyed hash of the id instead): give the reason without it, e.g. ' +
        '--reason "GDPR art. 17 request, ticket 1234"',
    );
  return reason;
}
