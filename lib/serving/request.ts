import { z } from 'zod';
import { InputError } from '#lib/errors.ts';

/**
 * The body of POST /predict: `{"id": "5008827"}`. The id is a string of digits (what the online
 * store keys on). A JSON number is refused, not coerced: ids are identifiers, and a number loses
 * digits beyond 2^53 and its leading zeros silently; a clear 400 is better than a wrong customer.
 * Other fields are ignored, so a client may add its own correlation fields.
 */
export const PredictRequestSchema = z.object({
  id: z.string().regex(/^[0-9]{1,20}$/, 'id must be a string of 1 to 20 digits'),
});

export type PredictRequest = z.infer<typeof PredictRequestSchema>;

/** Bodies above this are refused with 413 before parsing: the contract's body is ~20 bytes. */
export const MAX_BODY_BYTES = 4096;

const EXAMPLE = '{"id": "5008827"}';

/**
 * Parses and validates a raw request body (as API Gateway hands it over: a string, maybe base64).
 * Every failure is an InputError with a stable code: PAYLOAD_TOO_LARGE, INVALID_JSON, INVALID_ID.
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
  const parsed = PredictRequestSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const id = (value as Record<string, unknown>).id;
  throw new InputError('INVALID_ID', describeBadId(id));
}

function describeBadId(id: unknown): string {
  if (id === undefined) return `"id" is missing; send ${EXAMPLE}`;
  if (typeof id === 'number') return `"id" must be a string of digits, got the number ${id}; send ${EXAMPLE}`;
  if (typeof id !== 'string')
    return `"id" must be a string of digits, got ${id === null ? 'null' : typeof id}; send ${EXAMPLE}`;
  const shown = id.length > 40 ? `${id.slice(0, 40)}...` : id;
  return `"id" must be a string of 1 to 20 digits, got ${JSON.stringify(shown)}`;
}
