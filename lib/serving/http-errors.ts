import { isInputError } from '#lib/errors.ts';
import { FeatureStoreUnavailableError } from '#lib/ports/feature-store.ts';
import { NonFiniteProbabilityError } from './predictor.ts';

/**
 * The ONE place that maps an error to an HTTP answer. Every error body is
 * `{"error": {"code", "message"}}`. A caller's mistake (InputError) is always a 4xx; the feature
 * store being down is a 503 the client may retry; anything else is our bug: a 500 that says
 * nothing about internals (the log has the stack).
 */
export interface ErrorBody {
  error: { code: string; message: string };
}

export interface HttpError {
  statusCode: number;
  headers: Record<string, string>;
  body: ErrorBody;
}

/** InputError codes with a status other than 400. Unknown InputError codes are 400. */
const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  UNKNOWN_CUSTOMER: 404,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  // The request date is before the customer's last loan in the served snapshot: not the client's
  // doing, but retrying will not help either; a conflict between "today" and the data.
  AS_OF_BEFORE_SNAPSHOT: 409,
  PAYLOAD_TOO_LARGE: 413,
  // Answered by the local server (local/server/http-server.ts) when the client is too slow or
  // sends more headers than it accepts; API Gateway answers these at its own edge in AWS.
  REQUEST_TIMEOUT: 408,
  HEADERS_TOO_LARGE: 431,
  TOO_MANY_HEADERS: 431,
};

/** Seconds a client should wait after a 503 (Aurora Serverless resumes in about this time). */
export const RETRY_AFTER_SECONDS = 5;

export function httpErrorFor(e: unknown): HttpError {
  if (isInputError(e)) {
    const statusCode = STATUS_BY_CODE[e.code] ?? 400;
    const headers: Record<string, string> = statusCode === 405 ? { allow: 'POST' } : {};
    return { statusCode, headers, body: { error: { code: e.code, message: e.message } } };
  }
  if (e instanceof FeatureStoreUnavailableError) {
    return {
      statusCode: 503,
      headers: { 'retry-after': String(RETRY_AFTER_SECONDS) },
      body: { error: { code: e.code, message: 'the feature store is not answering; retry shortly' } },
    };
  }
  if (e instanceof NonFiniteProbabilityError) {
    // Not the caller's fault and not a crash: this version cannot score this row. A 503 (the
    // champion may answer after a rollback), never a made-up decision.
    return {
      statusCode: 503,
      headers: {},
      body: {
        error: { code: e.code, message: 'the model produced no valid probability; it has been logged' },
      },
    };
  }
  return {
    statusCode: 500,
    headers: {},
    body: { error: { code: 'INTERNAL_ERROR', message: 'internal error; it has been logged' } },
  };
}
