import { failedStates, type RunRecord } from '#lib/pipeline/run-record.ts';

/**
 * The CLI's exit codes, in one place (local/cli.ts maps thrown errors to them; its --help lists them).
 * A failed run has a code of its own so a script or a CI job can tell "the state machine ran and
 * its run failed" (look at the run) from "the command itself broke" (1) and "the command line or
 * its input was wrong" (2).
 */
export const EXIT = Object.freeze({
  ok: 0,
  /** Unexpected failure: a bug or an outage. */
  failure: 1,
  /** Bad input or usage (InputError, commander's usage errors). */
  input: 2,
  /** A state-machine run the command started (or resumed) ended failed. */
  runFailed: 3,
});

/**
 * Thrown by a command after it has printed its result, when the run it started ended failed; main
 * prints one line naming the run, where it broke and how to look at it, and exits EXIT.runFailed.
 */
export class RunFailedError extends Error {
  readonly code = 'RUN_FAILED';
  readonly executionId: string;

  constructor(record: RunRecord) {
    super(runFailureText(record));
    this.name = 'RunFailedError';
    this.executionId = record.executionId;
  }
}

export function isRunFailedError(e: unknown): e is RunFailedError {
  return e instanceof RunFailedError;
}

/** "run X failed at State: Error: cause (credit-risk pipeline status X)". */
export function runFailureText(record: RunRecord): string {
  // The first failed state is where the run broke (its Catch then led to the notification and the
  // Fail state, whose error only restates it).
  const broke = failedStates(record).find((s) => s.type !== 'Fail');
  const error = broke?.error ?? record.error;
  const where = broke ? ` at ${broke.name}` : '';
  const why = error ? `: ${error.error}: ${error.cause.slice(0, 300)}` : '';
  return `run ${record.executionId} failed${where}${why} (credit-risk pipeline status ${record.executionId})`;
}
