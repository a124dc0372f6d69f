import { applyRunEvent, newRunRecord, type RunEvent, type RunRecord } from './run-record.ts';

/**
 * Step Functions GetExecutionHistory events -> the same RunRecord a local run writes, so
 * `credit-risk aws pipeline status` and `credit-risk pipeline status` show runs alike. The shape
 * below is the subset of the SDK's HistoryEvent that is read (lib/ stays free of AWS types).
 */
export interface HistoryEvent {
  timestamp?: Date;
  type?: string;
  id?: number;
  executionStartedEventDetails?: { input?: string };
  executionSucceededEventDetails?: { output?: string };
  executionFailedEventDetails?: { error?: string; cause?: string };
  executionAbortedEventDetails?: { error?: string; cause?: string };
  executionTimedOutEventDetails?: { error?: string; cause?: string };
  stateEnteredEventDetails?: { name?: string; input?: string };
  stateExitedEventDetails?: { name?: string; output?: string };
  taskFailedEventDetails?: { error?: string; cause?: string };
  taskTimedOutEventDetails?: { error?: string; cause?: string };
  lambdaFunctionFailedEventDetails?: { error?: string; cause?: string };
  lambdaFunctionTimedOutEventDetails?: { error?: string; cause?: string };
}

function parse(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

const stateTypeOf = (eventType: string) => eventType.replace(/StateEntered$/, '');

function failureOf(e: HistoryEvent): { error?: string; cause?: string } | undefined {
  return (
    e.taskFailedEventDetails ??
    e.taskTimedOutEventDetails ??
    e.lambdaFunctionFailedEventDetails ??
    e.lambdaFunctionTimedOutEventDetails
  );
}

/** The RunEvents in a history (failure events name no state: they belong to the open one). */
export function runEventsOf(history: readonly HistoryEvent[]): RunEvent[] {
  const out: RunEvent[] = [];
  const open: string[] = [];
  const failed = new Set<string>();
  for (const e of history) {
    const at = e.timestamp?.getTime() ?? 0;
    const type = e.type ?? '';
    if (type === 'ExecutionStarted')
      out.push({ type, at, input: parse(e.executionStartedEventDetails?.input) });
    else if (type === 'ExecutionSucceeded')
      out.push({ type, at, output: parse(e.executionSucceededEventDetails?.output) });
    else if (type === 'ExecutionFailed' || type === 'ExecutionAborted' || type === 'ExecutionTimedOut') {
      const d =
        e.executionFailedEventDetails ?? e.executionAbortedEventDetails ?? e.executionTimedOutEventDetails;
      const error = { error: d?.error ?? type, cause: d?.cause ?? '' };
      // A failed run has no exit event for the state it ended in: a Fail state is entered and the
      // execution fails (FailStateEntered, ExecutionFailed), an abort or time-out cuts off the state
      // that was running. Each still-open state ends here, with the execution's error.
      // (A state whose own failure was recorded keeps that error.)
      for (const name of open.reverse())
        if (!failed.has(name)) out.push({ type: 'StateFailed', at, name, error });
      open.length = 0;
      out.push({ type: 'ExecutionFailed', at, error });
    } else if (type.endsWith('StateEntered') && e.stateEnteredEventDetails?.name) {
      const name = e.stateEnteredEventDetails.name;
      open.push(name);
      out.push({
        type: 'StateEntered',
        at,
        name,
        stateType: stateTypeOf(type),
        input: parse(e.stateEnteredEventDetails.input),
      });
    } else if (type.endsWith('StateExited') && e.stateExitedEventDetails?.name) {
      const name = e.stateExitedEventDetails.name;
      const i = open.lastIndexOf(name);
      if (i >= 0) open.splice(i, 1);
      failed.delete(name);
      out.push({ type: 'StateExited', at, name, output: parse(e.stateExitedEventDetails.output) });
    } else {
      const failure = failureOf(e);
      const name = open.at(-1);
      if (failure && name) {
        failed.add(name);
        out.push({
          type: 'StateFailed',
          at,
          name,
          error: { error: failure.error ?? type, cause: failure.cause ?? '' },
        });
      }
    }
  }
  return out;
}

export function recordFromHistory(options: {
  executionId: string;
  stateMachine: string;
  startedAt: Date;
  history: readonly HistoryEvent[];
  status?: string;
}): RunRecord {
  const record = newRunRecord({
    executionId: options.executionId,
    stateMachine: options.stateMachine,
    input: null,
    startedAt: options.startedAt,
  });
  for (const event of runEventsOf(options.history)) applyRunEvent(record, event);
  if (record.status === 'running' && options.status && options.status !== 'RUNNING') {
    record.status = options.status === 'SUCCEEDED' ? 'succeeded' : 'failed';
  }
  return record;
}
