import { createHash } from 'node:crypto';

/**
 * The record of one state-machine execution, as `credit-risk pipeline status|history|resume` read
 * it: every state entered with its input, output, duration and error, in order. Built by folding
 * RunEvents (applyRunEvent is pure), so the same code records local runs and replays AWS histories.
 */
export type RunStatus = 'running' | 'succeeded' | 'failed';

export interface RunError {
  error: string;
  cause: string;
}

export interface StateRun {
  name: string;
  type: string;
  /** Map iteration index, for states that ran inside a Map. */
  index?: number;
  enteredAt: string;
  endedAt?: string;
  ms?: number;
  input: unknown;
  output?: unknown;
  error?: RunError;
  /** How many times Retry re-ran it. */
  retries: number;
  /** A Catch handled its failure (the run went on along the failure path). */
  caught?: boolean;
}

/** One call of a Task's resource: what it was called with and what it answered (resume reuses it). */
export interface TaskAnswer {
  name: string;
  inputHash: string;
  at: string;
  result: unknown;
  /** Answered from an earlier run instead of running. */
  reused: boolean;
}

export interface RunRecord {
  executionId: string;
  stateMachine: string;
  status: RunStatus;
  input: unknown;
  output?: unknown;
  error?: RunError;
  startedAt: string;
  endedAt?: string;
  seconds?: number;
  /** The failed run this one resumed. */
  resumedFrom?: string;
  /** Fault injection that was active (tests only). */
  failAt?: string[];
  /**
   * The local process running it (set by the local run store): a record still `running` whose
   * process is gone was interrupted (Ctrl-C, kill, crash), not in flight.
   */
  owner?: { pid: number; host: string };
  states: StateRun[];
  /**
   * Task answers, kept apart from `states`: the library reports a Task's call and its state
   * events on different ticks (and Map iterations interleave), so they are matched by state
   * name and input hash, never by position.
   */
  tasks: TaskAnswer[];
}

export type RunEvent =
  | { type: 'ExecutionStarted'; at: number; input: unknown }
  | { type: 'ExecutionSucceeded'; at: number; output: unknown }
  | { type: 'ExecutionFailed'; at: number; error: RunError }
  | { type: 'StateEntered'; at: number; name: string; stateType: string; input: unknown; index?: number }
  | { type: 'StateExited'; at: number; name: string; output: unknown; index?: number }
  | { type: 'StateFailed'; at: number; name: string; error: RunError; index?: number }
  | { type: 'StateRetried'; at: number; name: string; index?: number }
  | { type: 'StateCaught'; at: number; name: string; index?: number }
  | { type: 'TaskAnswered'; at: number; name: string; inputHash: string; result: unknown; reused: boolean };

export function newRunRecord(options: {
  executionId: string;
  stateMachine: string;
  input: unknown;
  startedAt: Date;
  resumedFrom?: string;
  failAt?: string[];
}): RunRecord {
  return {
    executionId: options.executionId,
    stateMachine: options.stateMachine,
    status: 'running',
    input: options.input,
    startedAt: options.startedAt.toISOString(),
    ...(options.resumedFrom ? { resumedFrom: options.resumedFrom } : {}),
    ...(options.failAt && options.failAt.length > 0 ? { failAt: options.failAt } : {}),
    states: [],
    tasks: [],
  };
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The latest entry of state `name` (and Map iteration `index`) that has not ended yet, else the latest. */
function current(record: RunRecord, name: string, index: number | undefined): StateRun | undefined {
  let fallback: StateRun | undefined;
  for (let i = record.states.length - 1; i >= 0; i--) {
    const s = record.states[i];
    if (s.name !== name || s.index !== index) continue;
    if (s.endedAt === undefined) return s;
    fallback ??= s;
  }
  return fallback;
}

/** Folds one event into the record (mutates and returns it). */
export function applyRunEvent(record: RunRecord, event: RunEvent): RunRecord {
  switch (event.type) {
    case 'ExecutionStarted':
      record.input = event.input;
      break;
    case 'ExecutionSucceeded':
    case 'ExecutionFailed': {
      record.status = event.type === 'ExecutionSucceeded' ? 'succeeded' : 'failed';
      if (event.type === 'ExecutionSucceeded') record.output = event.output;
      else record.error = event.error;
      record.endedAt = iso(event.at);
      record.seconds = Math.round(event.at - Date.parse(record.startedAt)) / 1000;
      break;
    }
    case 'StateEntered':
      record.states.push({
        name: event.name,
        type: event.stateType,
        ...(event.index !== undefined ? { index: event.index } : {}),
        enteredAt: iso(event.at),
        input: event.input,
        retries: 0,
      });
      break;
    case 'StateExited':
    case 'StateFailed': {
      const s = current(record, event.name, event.index);
      if (!s) break;
      s.endedAt = iso(event.at);
      s.ms = event.at - Date.parse(s.enteredAt);
      if (event.type === 'StateExited') s.output = event.output;
      else s.error = event.error;
      break;
    }
    case 'StateRetried': {
      const s = current(record, event.name, event.index);
      if (s) {
        s.retries += 1;
        delete s.error;
      }
      break;
    }
    case 'StateCaught': {
      const s = current(record, event.name, event.index);
      if (s) s.caught = true;
      break;
    }
    case 'TaskAnswered':
      record.tasks.push({
        name: event.name,
        inputHash: event.inputHash,
        at: iso(event.at),
        result: event.result,
        reused: event.reused,
      });
      break;
  }
  return record;
}

/** JSON with object keys sorted at every level: equal values give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    );
  });
}

/**
 * The key a Task call is remembered under: its state and the exact input it was given, less the
 * Lambda payload's `runId` (the execution's name, which the train step records as lineage): a
 * resumed run is a new execution and must still find the steps the failed one finished, whose
 * model keeps the run id of the run that trained it.
 */
export function taskInputHash(stateName: string, input: unknown): string {
  return createHash('sha256')
    .update(stateName)
    .update('\0')
    .update(canonicalJson(withoutRunId(input)))
    .digest('hex');
}

function withoutRunId(input: unknown): unknown {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return input;
  const payload = (input as { Payload?: unknown }).Payload;
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload) || !('runId' in payload))
    return input;
  const { runId: _runId, ...rest } = payload as Record<string, unknown>;
  return { ...(input as Record<string, unknown>), Payload: rest };
}

/**
 * What a resumed run may take from an earlier one: the answer of every Task in `reusable` that
 * finished, keyed by its input hash. A step whose input changed (an upstream step answered
 * differently) gets no match and runs again.
 */
export function reusableAnswers(record: RunRecord, reusable: ReadonlySet<string>): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const t of record.tasks) if (reusable.has(t.name)) out.set(t.inputHash, t.result);
  return out;
}

/** Names of the states whose answer came from an earlier run. */
export function reusedStates(record: RunRecord): string[] {
  return [...new Set(record.tasks.filter((t) => t.reused).map((t) => t.name))];
}

/** The states that failed without being retried away, in order (the first is where the run broke). */
export function failedStates(record: RunRecord): StateRun[] {
  return record.states.filter((s) => s.error !== undefined);
}

/** What a training run decided, from its output: promoted, rolled-back, rejected, unchanged. */
export function runDecision(record: RunRecord): string | null {
  const out = record.output as { status?: unknown } | undefined;
  return typeof out?.status === 'string' ? out.status : null;
}

export function runModelVersion(record: RunRecord): string | null {
  const out = record.output as { modelVersion?: unknown } | undefined;
  if (typeof out?.modelVersion === 'string') return out.modelVersion;
  // A failed run: the last version any state produced.
  for (let i = record.states.length - 1; i >= 0; i--) {
    const o = record.states[i].output as
      { registration?: { version?: unknown }; candidate?: { version?: unknown } } | undefined;
    const v = o?.registration?.version ?? o?.candidate?.version;
    if (typeof v === 'string') return v;
  }
  return null;
}
