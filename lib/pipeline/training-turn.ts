import type { ListRunningTrainings, RunningExecution } from '#lib/ports/training-starter.ts';

/**
 * One training at a time, in start order, whatever started it (the weekly schedule, new raw data,
 * a drift retraining, a manual `pipeline run`): the training machine's first Task (AwaitTurn, the
 * extract function's `turn` stage) asks whether an OLDER training execution is still running.
 * If one is, the execution waits (the machine's WaitForTurn state) and asks again; otherwise it
 * goes on. Two executions running at once would race to register, canary and promote.
 *
 * "Older" is by start time, ties broken by execution name (names are unique per state machine), so
 * any two executions agree on which of them goes first and the oldest one never waits: no
 * deadlock. A waiting execution is itself running, so a third one queues behind it: executions
 * run one at a time in start order.
 *
 * The wait is bounded: past `maxWaitSeconds` since its own start an execution gives up
 * (TrainingTurnTimeout, caught by the machine: NotifyFailure, nothing done yet), so that what is
 * left of the machine's TimeoutSeconds still covers a whole run; a timeout mid-canary would skip
 * AbortCanary (docs/adr/0095-one-training-at-a-time.md).
 */

/** The execution asking for its turn (the machine passes $$.Execution.Name and StartTime). */
export interface TurnSelf {
  name: string;
  /** ISO 8601. */
  startedAt: string;
}

export interface TurnDecision {
  /** No older training execution is running: go on. */
  proceed: boolean;
  /** The older executions still running (oldest first); empty when proceeding. */
  ahead: RunningExecution[];
  /** Seconds since this execution started. */
  waitedSeconds: number;
}

/** The listing of running executions failed (throttling, AccessDenied, ...): retried by the state's Retry. */
export class TrainingListUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TrainingListUnavailable';
  }
}

/** Waited longer than allowed for the executions ahead to finish. */
export class TrainingTurnTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrainingTurnTimeout';
  }
}

function startMs(iso: string): number {
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? Number.NEGATIVE_INFINITY : ms;
}

/**
 * True when `other` started before `self` (ties: the smaller name first). A start time that does
 * not parse counts as older (waiting is the safe side; Step Functions always gives one).
 */
export function isAhead(other: RunningExecution, self: TurnSelf): boolean {
  if (other.name === self.name) return false;
  const a = startMs(other.startedAt);
  const b = startMs(self.startedAt);
  if (a !== b) return a < b;
  return other.name < self.name;
}

export function decideTurn(
  self: TurnSelf,
  running: readonly RunningExecution[],
  now: Date,
  maxWaitSeconds: number,
): TurnDecision {
  const started = Date.parse(self.startedAt);
  if (Number.isNaN(started))
    throw new Error(`the execution's start time ${JSON.stringify(self.startedAt)} is not a date`);
  const ahead = running
    .filter((r) => isAhead(r, self))
    .sort(
      (x, y) =>
        startMs(x.startedAt) - startMs(y.startedAt) || (x.name < y.name ? -1 : x.name > y.name ? 1 : 0),
    );
  const waitedSeconds = Math.max(0, Math.round((now.getTime() - started) / 1000));
  if (ahead.length > 0 && waitedSeconds >= maxWaitSeconds) {
    throw new TrainingTurnTimeoutError(
      `waited ${waitedSeconds} s (limit ${maxWaitSeconds} s) for older training executions to finish: ${ahead.map((r) => `${r.name} (started ${r.startedAt})`).join(', ')}`,
    );
  }
  return { proceed: ahead.length === 0, ahead, waitedSeconds };
}

export type { ListRunningTrainings } from '#lib/ports/training-starter.ts';

/** The listing, its failure as TrainingListUnavailable, then the decision. */
export async function awaitTurn(
  list: ListRunningTrainings,
  request: { stateMachineId: string; self: TurnSelf; maxWaitSeconds: number },
  now: () => Date,
): Promise<TurnDecision> {
  let running: RunningExecution[];
  try {
    running = await list(request.stateMachineId);
  } catch (e) {
    throw new TrainingListUnavailableError(
      `cannot list the running training executions: ${e instanceof Error ? e.message : String(e)}`,
      { cause: e },
    );
  }
  return decideTurn(request.self, running, now(), request.maxWaitSeconds);
}
