import { hostname } from 'node:os';
import type { RunningExecution } from '#lib/monitoring/drift-check.ts';
import type { RunRecord } from '#lib/pipeline/run-record.ts';
import type { LocalRoot } from '#local/root.ts';
import { readAsl } from '#local/sfn/definition.ts';
import { RunStore } from './run-store.ts';

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
 * `running` whose owner process (pid on this host) is gone was interrupted (Ctrl-C, kill, a
 * crash: the record stays as of its last event) and does not count: a later `npm start` must not
 * wait behind it. Nor does one older than the state machine's TimeoutSeconds (4 h), which Step
 * Functions would have timed out (a record from another host, or without an owner, ends there).
 */
export function runningTrainings(
  runs: RunStore,
  now: Date,
  timeoutSeconds = trainingTimeoutSeconds(),
): RunningExecution[] {
  return runs
    .list()
    .filter(
      (r) =>
        r.stateMachine === 'training' &&
        r.status === 'running' &&
        now.getTime() - Date.parse(r.startedAt) < timeoutSeconds * 1000,
    )
    .filter((r) => !ownerIsGone(r))
    .map((r) => ({ name: r.executionId, startedAt: r.startedAt }));
}

/** runningTrainings over the home's run records, now by the root's clock: the local ListExecutions(RUNNING). */
export function localRunningTrainings(root: Pick<LocalRoot, 'home' | 'clock'>): RunningExecution[] {
  return runningTrainings(new RunStore(root.home.runs), root.clock.now());
}

/**
 * A run still marked running whose process on this host is gone: interrupted (Ctrl-C, kill, a
 * crash) and never to finish by itself. `pipeline status` shows it as such and `pipeline resume`
 * takes it like a failed run.
 */
export function isInterrupted(record: RunRecord): boolean {
  return record.status === 'running' && ownerIsGone(record);
}

/** The record's owner process ran on this host and no longer exists. */
function ownerIsGone(record: RunRecord): boolean {
  const owner = record.owner;
  if (!owner || owner.host !== hostname() || owner.pid === process.pid) return false;
  try {
    process.kill(owner.pid, 0);
    return false;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
