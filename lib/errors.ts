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
    // No stack trace: an InputError is an answer, not a bug, and nothing prints its stack (the CLI
    // prints code and message, the API its JSON). Capturing one was 1.8% of a serve worker's CPU
    // under the serve bench's mix, where one request in five is a client's mistake.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      super(message);
    } finally {
      Error.stackTraceLimit = limit;
    }
    this.name = 'InputError';
  }
}

export function isInputError(e: unknown): e is InputError {
  return e instanceof InputError;
}
