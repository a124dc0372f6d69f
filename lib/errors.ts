/**
 * Errors that are the caller's mistake (bad file, bad argument, unknown id). Each has a stable
 * code; the CLI maps them to exit code 2 and the API maps them to 4xx in exactly one place each
 * (local/cli.ts, lib/serving/http-errors.ts). Anything else is our bug or an outage.
 */
export class InputError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'InputError';
  }
}

export function isInputError(e: unknown): e is InputError {
  return e instanceof InputError;
}
