import type { RunningExecution } from '#lib/monitoring/drift-check.ts';
import { readAsl } from '#local/sfn/definition.ts';
import type { RunStore } from './run-store.ts';

/** The training ASL's TimeoutSeconds (4 h): how long Step Functions lets an execution run. */
export function trainingTimeoutSeconds(): number {
  const { TimeoutSeconds } = JSON.parse(readAsl('training')) as { TimeoutSeconds?: number };
  return TimeoutSeconds ?? Infinity;
}

/**
 * The local training runs in flight: run records of the training state machine under home.runs
 * still `running`. Locally this is what Step Functions' ListExecutions(RUNNING) is in AWS, for the
 * drift check's starter (`monitor drift --retrain` starts nothing while one runs) and for the
 * training machine's AwaitTurn state (a run waits for the older ones). The local runner runs an
 * execution inside the command that started it, saving its record at every state, so another
 * process's run (a `pipeline run` in another terminal) shows here while it runs. A record still
 * `running` after the state machine's TimeoutSeconds (4 h) is a process that died mid-run (its
 * record stays as of its last event): Step Functions would have timed that execution out, so it
 * does not count.
 */
export function runningTrainings(runs: RunStore, now: Date, timeoutSeconds = trainingTimeoutSeconds()): RunningExecution[] {
  return runs
    .list()
    .filter((r) => r.stateMachine === 'training' && r.status === 'running' && now.getTime() - Date.parse(r.startedAt) < timeoutSeconds * 1000)
    .map((r) => ({ name: r.executionId, startedAt: r.startedAt }));
}
