import type { TrialResult, TuningPlan } from '#lib/model/tuning-plan.ts';
import type { RunEvent, RunRecord } from '#lib/pipeline/run-record.ts';
import type { Clock } from '#lib/ports/clock.ts';
import { newExecutionName, RunStore } from '#local/runs/run-store.ts';
import { allStates, type AslDefinition, type AslState } from './definition.ts';
import { definitionFor } from './local-pipeline.ts';
import { runLocally, type LocalRunResult } from './runner.ts';

/**
 * The tuning states of state-machines/training.asl.json as a machine of their own, for
 * `credit-risk train --tune` on a table that is not a published snapshot: StartTuning ->
 * PlanTuning -> TuningDone -> RunTrials (the Map of TuneTrial) -> PlanTuning ... taken from the
 * one file as written, each state unchanged; the two ways out are the only edit: TrainTuned
 * becomes a Succeed (the caller trains the final model) and NotifyFailure a Fail.
 */
export const TUNING_MACHINE_NAME = 'training-tuning';
const ENTRY = 'StartTuning';
const EXITS: Readonly<Record<string, string>> = { TrainTuned: 'Tuned', NotifyFailure: 'TuningFailed' };

export function tuningDefinition(training: AslDefinition = definitionFor('training')): AslDefinition {
  const states: Record<string, AslState> = {};
  const rename = (next: string) => EXITS[next] ?? next;
  const visit = (name: string) => {
    if (name in states || name in EXITS) return;
    const state = training.States[name];
    if (!state) throw new Error(`training.asl.json has no state ${name}`);
    const copy: AslState = JSON.parse(JSON.stringify(state)) as AslState;
    if (copy.Next) copy.Next = rename(copy.Next);
    if (copy.Default) copy.Default = rename(copy.Default);
    for (const c of copy.Choices ?? []) c.Next = rename(c.Next);
    for (const c of copy.Catch ?? []) c.Next = rename(c.Next);
    states[name] = copy;
    for (const next of [
      state.Next,
      state.Default,
      ...(state.Choices ?? []).map((c) => c.Next),
      ...(state.Catch ?? []).map((c) => c.Next),
    ])
      if (next) visit(next);
  };
  visit(ENTRY);
  states.Tuned = { Type: 'Succeed' };
  states.TuningFailed = {
    Type: 'Fail',
    Error: 'TuningFailed',
    Cause: 'a tuning state failed (see the run record)',
  };
  return {
    Comment: `The tuning states of training.asl.json (${Object.keys(states)
      .filter((n) => !['Tuned', 'TuningFailed'].includes(n))
      .join(', ')}), run on their own by credit-risk train --tune.`,
    StartAt: ENTRY,
    States: states,
  };
}

/** The states of the tuning machine, nested ones included (the Map's TuneTrial). */
export function tuningStateNames(definition: AslDefinition = tuningDefinition()): string[] {
  return allStates(definition).map((s) => s.name);
}

export interface LocalTuningOptions {
  /** The train function over the store holding the snapshot (its plan and trial modes answer here). */
  train: (payload: unknown) => Promise<unknown>;
  snapshotId: string;
  tune: Record<string, unknown>;
  /** The training params every trial and the final training start from. */
  base: Record<string, unknown>;
  /** Where the run record goes (home.runs: `pipeline status <id>` shows it). */
  runsDir: string;
  clock: Clock;
  executionName?: string;
  onEvent?: (event: RunEvent) => void;
}

export interface LocalTuningRun {
  record: RunRecord;
  result: LocalRunResult;
  /** The last plan ($.tuning): chosen settings and the record the card keeps. */
  plan?: TuningPlan;
}

/** Runs the tuning states on the local runner, the Map's trials through `train` (trial mode). */
export async function runTuningLocally(options: LocalTuningOptions): Promise<LocalTuningRun> {
  const executionName = options.executionName ?? newExecutionName(TUNING_MACHINE_NAME, options.clock.now());
  const input = {
    config: { tune: options.tune, train: options.base },
    features: { snapshotId: options.snapshotId },
  };
  const startedAt = options.clock.now();
  const { record, onEvent } = new RunStore(options.runsDir).start({
    executionId: executionName,
    stateMachine: TUNING_MACHINE_NAME,
    input,
    startedAt,
    failAt: [],
  });
  const result = await runLocally({
    definition: tuningDefinition(),
    input,
    executionName,
    stateMachineName: TUNING_MACHINE_NAME,
    startTime: startedAt,
    services: {
      lambda: async (name, payload) => {
        if (name !== 'train')
          throw new Error(`the tuning states invoke only the train function, not ${name}`);
        return options.train(payload);
      },
      glueJob: () => Promise.reject(new Error('no Glue job in the tuning states')),
      codeBuild: () => Promise.reject(new Error('no CodeBuild in the tuning states')),
      publish: () => Promise.reject(new Error('no SNS in the tuning states')),
    },
    onEvent: (event) => {
      onEvent(event);
      options.onEvent?.(event);
    },
  });
  const plan = (result.output as { tuning?: TuningPlan } | undefined)?.tuning;
  return { record, result, plan };
}

/** A TuneTrial answer in a run event, for progress lines. */
export function trialAnswer(event: RunEvent): TrialResult | undefined {
  if (event.type !== 'TaskAnswered' || event.name !== 'TuneTrial') return undefined;
  const payload = (event.result as { Payload?: TrialResult } | undefined)?.Payload;
  return payload && typeof payload.id === 'number' ? payload : undefined;
}
