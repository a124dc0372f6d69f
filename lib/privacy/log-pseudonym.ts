import { createHmac } from 'node:crypto';
import { hmacSha256Hex } from './hmac-sha256.ts';

/**
 * How request logs name a customer: never the id in clear (issue 21; infra/resources/api.yml
 * says request bodies are never logged), but a keyed pseudonym, so that the lines of one
 * customer can still be found and joined while debugging by whoever holds the key
 * (docs/adr/0186-customer-ids-in-logs-keyed-pseudonyms.md).
 *
 * HMAC-SHA256 of the id (leading zeros dropped, as validation casts ids to BIGINT) under the log
 * key, the first 16 hex digits (64 bits: no collision expected below billions of customers). A
 * plain hash would not do: customer ids are a few million digit strings, all hashed in a second.
 * The key comes from LOG_ID_KEY: in AWS the stack's generated secret, locally a file of random
 * bytes under the home (created once, mode 0600; local/root.ts). Without a key the customer is
 * left out of the line altogether.
 */
export const LOG_ID_KEY_ENV = 'LOG_ID_KEY';
const MIN_KEY_LENGTH = 32;

export type LogPseudonym = (id: string | undefined) => string | undefined;

export function logPseudonym(id: string, key: string): string {
  return createHmac('sha256', key).update(withoutLeadingZeros(id)).digest('hex').slice(0, 16);
}

const withoutLeadingZeros = (id: string): string =>
  id.charCodeAt(0) === 48 /* 0 */ ? id.replace(/^0+(?=.)/, '') : id;

/** The pseudonym function for a key (undefined or too short: no customer in logs at all). */
export function logPseudonymFor(key: string | undefined): LogPseudonym {
  if (key === undefined || key.length < MIN_KEY_LENGTH) return () => undefined;
  // The key's pad blocks hashed once (hmac-sha256.ts): one pseudonym per request log line.
  const hmac = hmacSha256Hex(key, 16);
  return (id) => (id === undefined ? undefined : hmac(withoutLeadingZeros(id)));
}

/** Text (an error's message or stack) with every whole-token mention of the id replaced. */
export function withoutId(text: string, id: string | undefined): string {
  if (id === undefined || id === '') return text;
  const escaped = id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return text.replace(new RegExp(`(?<![0-9A-Za-z])${escaped}(?![0-9A-Za-z])`, 'g'), '<customer>');
}
