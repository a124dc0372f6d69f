import { InputError } from '#lib/errors.ts';
import { isCustomerId } from '#lib/privacy/customer-id.ts';

/**
 * The body of POST /predict: `{"id": "5008827"}`, optionally `"explain": true`. The id is a string
 * of digits (what the online store keys on). A JSON number is refused, not coerced: ids are
 * identifiers, and a number loses digits beyond 2^53 and its leading zeros silently; a clear 400
 * is better than a wrong customer. `explain` is a JSON boolean or absent: "yes", 1 or null are a
 * 400 (INVALID_EXPLAIN), not a guess. Other fields are ignored, so a client may add its own
 * correlation fields.
 */
export interface PredictRequest {
  id: string;
  explain?: boolean;
}

/** Bodies above this are refused with 413 before parsing: the contract's body is ~20 bytes. */
export const MAX_BODY_BYTES = 4096;

const EXAMPLE = '{"id": "5008827"}';

/**
 * Parses and validates a raw request body (as API Gateway hands it over: a string, maybe base64).
 * Every failure is an InputError with a stable code: PAYLOAD_TOO_LARGE, INVALID_JSON, INVALID_ID,
 * INVALID_EXPLAIN.
 */
export function parsePredictRequest(
  body: string | null | undefined,
  isBase64Encoded = false,
): PredictRequest {
  const raw = body ?? '';
  const bytes = isBase64Encoded ? Buffer.from(raw, 'base64') : undefined;
  const size = bytes ? bytes.length : Buffer.byteLength(raw, 'utf8');
  if (size > MAX_BODY_BYTES) {
    throw new InputError(
      'PAYLOAD_TOO_LARGE',
      `request body is ${size} bytes; the limit is ${MAX_BODY_BYTES} (send ${EXAMPLE})`,
    );
  }
  const text = bytes ? bytes.toString('utf8') : raw;
  if (text.trim() === '') throw new InputError('INVALID_JSON', `request body is empty; send ${EXAMPLE}`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new InputError(
      'INVALID_JSON',
      `request body is not valid JSON (${(e as Error).message}); send ${EXAMPLE}`,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    const kind = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
    throw new InputError('INVALID_JSON', `request body must be a JSON object, got ${kind}; send ${EXAMPLE}`);
  }
  // Checked by hand, not by a schema library: this runs on every request, where a zod parse was
  // ~1.7% of a serve worker's CPU for two fields.
  const { id, explain } = value as Record<string, unknown>;
  if (!isCustomerId(id)) throw new InputError('INVALID_ID', describeBadId(id));
  if (explain === undefined) return { id };
  if (typeof explain === 'boolean') return { id, explain };
  throw new InputError(
    'INVALID_EXPLAIN',
    `"explain" must be true or false, got ${describeValue(explain)}; send {"id": "5008827", "explain": true}`,
  );
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'string')
    return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`;
  if (typeof v === 'number') return `the number ${v}`;
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

function describeBadId(id: unknown): string {
  if (id === undefined) return `"id" is missing; send ${EXAMPLE}`;
  if (typeof id === 'number') return `"id" must be a string of digits, got the number ${id}; send ${EXAMPLE}`;
  if (typeof id !== 'string')
    return `"id" must be a string of digits, got ${id === null ? 'null' : typeof id}; send ${EXAMPLE}`;
  const shown = id.length > 40 ? `${id.slice(0, 40)}...` : id;
  return `"id" must be a string of 1 to 20 digits, got ${JSON.stringify(shown)}`;
}
