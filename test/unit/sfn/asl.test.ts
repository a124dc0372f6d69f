import { describe, expect, it } from '@jest/globals';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import {
  allStates,
  placeholders,
  readAsl,
  STATE_MACHINE_NAMES,
  taskStates,
  type AslDefinition,
  type StateMachineName,
} from '#local/sfn/definition.ts';

const require = createRequire(import.meta.url);
const aslValidator = require('asl-validator') as (
  definition: unknown,
  options?: { checkPaths?: boolean; checkArn?: boolean },
) => { isValid: boolean; errorsText: (separator?: string) => string };

const parsed = (name: StateMachineName) => JSON.parse(readAsl(name)) as AslDefinition;

/** The DefinitionSubstitutions keys infra gives one state machine (infra/resources/orchestration.yml). */
function infraSubstitutions(id: string): string[] {
  const yml = readFileSync('infra/resources/orchestration.yml', 'utf8');
  const start = yml.indexOf(`  ${id}:\n    Properties:\n      DefinitionSubstitutions:\n`);
  expect(start).toBeGreaterThanOrEqual(0);
  const keys: string[] = [];
  for (const line of yml.slice(start).split('\n').slice(3)) {
    const m = /^ {8}([A-Za-z0-9_]+):/.exec(line);
    if (!m) break;
    keys.push(m[1]);
  }
  return keys;
}

const INFRA_ID: Record<StateMachineName, string> = {
  training: 'TrainingStateMachine',
  'batch-scoring': 'BatchScoringStateMachine',
};

describe.each(STATE_MACHINE_NAMES)('%s.asl.json', (name) => {
  const definition = parsed(name);

  it('passes asl-validator, JSONPaths and ARNs included', () => {
    const result = aslValidator(definition, { checkPaths: true, checkArn: true });
    expect(result.errorsText()).toBe('');
    expect(result.isValid).toBe(true);
  });

  it('names only placeholders that infra substitutes', () => {
    const known = new Set(infraSubstitutions(INFRA_ID[name]));
    const used = placeholders(readAsl(name));
    expect(used.length).toBeGreaterThan(0);
    expect(used.filter((p) => !known.has(p))).toEqual([]);
  });

  it('retries transient errors with backoff at every Task', () => {
    for (const { name: state, state: s } of taskStates(definition)) {
      const retriers = (s.Retry ?? []) as {
        ErrorEquals: string[];
        BackoffRate?: number;
        MaxAttempts?: number;
      }[];
      expect({
        state,
        retried: retriers.some((r) => (r.BackoffRate ?? 0) > 1 && (r.MaxAttempts ?? 0) > 1),
      }).toEqual({ state, retried: true });
      // Only transient errors are retried: a bug or a bad input fails fast to the Catch.
      expect(retriers.flatMap((r) => r.ErrorEquals)).not.toContain('States.ALL');
      expect(retriers.flatMap((r) => r.ErrorEquals)).toContain('TransientError');
    }
  });

  it('catches every failure of every Task (directly or by its enclosing Map)', () => {
    const states = allStates(definition);
    const byName = new Map(states.map((s) => [s.name, s.state]));
    for (const { name: state, state: s, parent } of taskStates(definition)) {
      const catcher = parent ? byName.get(parent)?.Catch : s.Catch;
      expect({
        state,
        catchesAll: (catcher ?? []).some((c) => c.ErrorEquals.includes('States.ALL')),
      }).toEqual({ state, catchesAll: true });
    }
  });

  it('has no unreachable state', () => {
    const reach = (d: AslDefinition): Set<string> => {
      const seen = new Set<string>();
      const visit = (n: string) => {
        if (seen.has(n)) return;
        seen.add(n);
        const s = d.States[n];
        for (const next of [
          s.Next,
          s.Default,
          ...(s.Choices ?? []).map((c) => c.Next),
          ...(s.Catch ?? []).map((c) => c.Next),
        ]) {
          if (next) visit(next);
        }
      };
      visit(d.StartAt);
      return seen;
    };
    expect(Object.keys(definition.States).filter((n) => !reach(definition).has(n))).toEqual([]);
  });
});

describe('training.asl.json', () => {
  const definition = parsed('training');

  it('ends a rejected model in a Succeed state, not a failure', () => {
    const gate = definition.States.QualityGate;
    expect(gate.Type).toBe('Choice');
    let at = gate.Default as string;
    const path: string[] = [];
    while (definition.States[at].Type !== 'Succeed' && definition.States[at].Type !== 'Fail') {
      path.push(at);
      at = definition.States[at].Next as string;
    }
    expect(path).toEqual(['NotifyRejected', 'MarkRejected']);
    expect(definition.States[at].Type).toBe('Succeed');
    expect(definition.States.MarkRejected.Parameters).toMatchObject({ status: 'rejected' });
  });

  it('sends every failure after the canary went live through AbortCanary before notifying', () => {
    for (const state of ['DeployCanary', 'JudgeCanary', 'PromoteCanary', 'RollBackCanary']) {
      expect(definition.States[state].Catch?.map((c) => c.Next)).toEqual(['AbortCanary']);
    }
    for (const state of [
      'AwaitTurn',
      'ResolveInput',
      'ExtractFeatures',
      'PrepareGlueFeatures',
      'ExtractFeaturesGlue',
      'PublishGlueFeatures',
      'Train',
      'PlanTuning',
      'RunTrials',
      'TrainTuned',
      'Evaluate',
      'Register',
      'BuildImage',
      'AbortCanary',
    ]) {
      expect(definition.States[state].Catch?.map((c) => c.Next)).toEqual(['NotifyFailure']);
    }
    expect(definition.States.NotifyFailure.Next).toBe('Failed');
    expect(definition.States.Failed.Type).toBe('Fail');
  });

  it('picks Glue only for inputs larger than the configured size', () => {
    const choice = definition.States.ChooseFeatureEngine;
    expect(choice.Default).toBe('ExtractFeatures');
    expect(choice.Choices?.map((c) => c.Next)).toEqual(['PrepareGlueFeatures']);
    expect(definition.States.ExtractFeaturesGlue.Resource).toBe('arn:aws:states:::glue:startJobRun.sync');
    expect(definition.States.BuildImage.Resource).toBe('arn:aws:states:::codebuild:startBuild.sync');
  });

  it('resolves a prefix input (and only a prefix) to its newest raw key and size before the engine choice', () => {
    const s = definition.States;
    expect(s.TurnToRun.Choices?.map((c) => c.Next)).toEqual(['InputIsPrefix']);
    // Only a string ending in / is resolved; anything else goes straight to the choice, as before.
    expect(s.InputIsPrefix).toMatchObject({
      Type: 'Choice',
      Choices: [
        {
          And: [
            { Variable: '$.config.input', IsString: true },
            { Variable: '$.config.input', StringMatches: '*/' },
          ],
          Next: 'ResolveInput',
        },
      ],
      Default: 'ChooseFeatureEngine',
    });
    // The extract function's resolve stage (functions/extract-features/handler.ts).
    expect(s.ResolveInput.Parameters).toEqual({
      FunctionName: '${ExtractFeaturesFunctionArn}',
      Payload: { stage: 'resolve', 'input.$': '$.config.input' },
    });
    expect(s.ResolveInput).toMatchObject({
      ResultSelector: { 'input.$': '$.Payload.input', 'sizeBytes.$': '$.Payload.sizeBytes' },
      ResultPath: '$.resolved',
      Next: 'UseResolvedInput',
    });
    // The resolved key and size replace the config's (the second argument of JsonMerge wins), so
    // the choice and every later state read the concrete key.
    expect(s.UseResolvedInput).toEqual(
      expect.objectContaining({
        Type: 'Pass',
        Parameters: { 'config.$': 'States.JsonMerge($.config, $.resolved, false)' },
        Next: 'ChooseFeatureEngine',
      }),
    );
    const sizeRules = JSON.stringify(s.ChooseFeatureEngine.Choices);
    expect(sizeRules).toContain('"Variable":"$.config.sizeBytes"');
    expect(sizeRules).toContain('"NumericGreaterThanPath":"$.config.largeInputBytes"');
    for (const state of ['ExtractFeatures', 'PrepareGlueFeatures'])
      expect(JSON.stringify(s[state].Parameters)).toContain('$.config');
  });

  it('waits for its turn before anything else: no older execution running, else WaitForTurn and ask again', () => {
    const s = definition.States;
    expect(s.Configure.Next).toBe('AwaitTurn');
    // The training-turn function (functions/training-turn/handler.ts) with the execution's
    // own identity from the context object and the wait limit from the config.
    expect(s.AwaitTurn.Parameters).toEqual({
      FunctionName: '${TrainingTurnFunctionArn}',
      Payload: {
        stage: 'turn',
        'stateMachine.$': '$$.StateMachine.Id',
        execution: {
          'id.$': '$$.Execution.Id',
          'name.$': '$$.Execution.Name',
          'startTime.$': '$$.Execution.StartTime',
        },
        'maxWaitSeconds.$': '$.config.maxTurnWaitSeconds',
      },
    });
    expect(s.AwaitTurn).toMatchObject({
      ResultSelector: { 'proceed.$': '$.Payload.proceed' },
      ResultPath: '$.turn',
      Next: 'TurnToRun',
    });
    // A failed listing is retried, then caught (the run fails before doing anything); a wait past the limit is not retried.
    const retried = (s.AwaitTurn.Retry ?? []).flatMap((r) => r.ErrorEquals);
    expect(retried).toContain('TrainingListUnavailable');
    expect(retried).not.toContain('TrainingTurnTimeout');
    expect(s.TurnToRun).toMatchObject({
      Type: 'Choice',
      Choices: [{ Variable: '$.turn.proceed', BooleanEquals: true, Next: 'InputIsPrefix' }],
      Default: 'WaitForTurn',
    });
    expect(s.WaitForTurn).toMatchObject({ Type: 'Wait', Seconds: 300, Next: 'AwaitTurn' });
    expect((s.Defaults.Result as Record<string, unknown>).maxTurnWaitSeconds).toBe(7200);
    // Every path to any work goes through AwaitTurn: the states before it do nothing but set the config.
    expect([s.Defaults.Type, s.Configure.Type]).toEqual(['Pass', 'Pass']);
    expect(definition.StartAt).toBe('Defaults');
  });

  it('runs the Glue branch as prepare (Lambda) -> the job on the staged Parquet -> publish (Lambda)', () => {
    const s = definition.States;
    expect([s.PrepareGlueFeatures.Next, s.ExtractFeaturesGlue.Next, s.PublishGlueFeatures.Next]).toEqual([
      'ExtractFeaturesGlue',
      'PublishGlueFeatures',
      'TuneOrTrain',
    ]);
    // The stage requests the extract function accepts (functions/extract-features/handler.ts).
    expect(s.PrepareGlueFeatures.Parameters).toEqual({
      FunctionName: '${ExtractFeaturesFunctionArn}',
      Payload: { stage: 'prepare', 'request.$': '$.config' },
    });
    expect(s.PublishGlueFeatures.Parameters).toEqual({
      FunctionName: '${ExtractFeaturesFunctionArn}',
      Payload: { stage: 'publish', 'staging.$': '$.prepared.staging' },
    });
    // The job's own argument names (jobs/glue/extract_features.py REQUIRED + OPTIONAL), in the
    // underscore form Glue's getResolvedOptions looks up.
    const py = readFileSync('jobs/glue/extract_features.py', 'utf8');
    const names = (tuple: string) =>
      [...(new RegExp(`^${tuple} = \\(([^)]*)\\)`, 'm').exec(py)?.[1] ?? '').matchAll(/"([a-z_]+)"/g)].map(
        (m) => m[1],
      );
    const jobArgs = new Set([...names('REQUIRED'), ...names('OPTIONAL')]);
    expect(names('REQUIRED')).toEqual(['input', 'output']);
    const args = (s.ExtractFeaturesGlue.Parameters as { Arguments: Record<string, string> }).Arguments;
    expect(
      Object.keys(args)
        .map((k) => k.replace(/^--/, '').replace(/\.\$$/, ''))
        .filter((k) => !jobArgs.has(k)),
    ).toEqual([]);
    expect(args).toEqual({
      '--input.$': "States.Format('s3://${FeaturesBucketName}/{}', $.prepared.rawValidKey)",
      '--output.$': "States.Format('s3://${FeaturesBucketName}/{}', $.prepared.engineOutputKey)",
      '--as_of.$': '$.prepared.asOf',
    });
  });

  it('tunes only when the input has a tune object: otherwise both feature branches go to Train as before', () => {
    const s = definition.States;
    expect([s.ExtractFeatures.Next, s.PublishGlueFeatures.Next]).toEqual(['TuneOrTrain', 'TuneOrTrain']);
    expect(s.TuneOrTrain).toMatchObject({
      Type: 'Choice',
      Choices: [{ Variable: '$.config.tune', IsPresent: true, Next: 'StartTuning' }],
      Default: 'Train',
    });
    // Nothing in Defaults turns tuning on, and Train reads what it read before tuning existed.
    expect(Object.keys(s.Defaults.Result as object)).not.toContain('tune');
    expect(s.Train.Parameters).toEqual({
      FunctionName: '${TrainFunctionArn}',
      Payload: {
        'snapshotId.$': '$.features.snapshotId',
        'featuresKey.$': "States.Format('features/snapshot={}/part-00000.parquet', $.features.snapshotId)",
        'params.$': '$.config.train',
        'runId.$': '$$.Execution.Name',
      },
    });
    expect(s.Train.Next).toBe('Evaluate');
  });

  it('loops plan -> Map of trials -> plan until the plan is done, then trains with the chosen settings', () => {
    const s = definition.States;
    expect(s.StartTuning).toMatchObject({ Type: 'Pass', ResultPath: '$.tuning', Next: 'PlanTuning' });
    expect(s.PlanTuning.Parameters).toEqual({
      FunctionName: '${TrainFunctionArn}',
      Payload: {
        mode: 'plan',
        'tune.$': '$.config.tune',
        'base.$': '$.config.train',
        'tuning.$': '$.tuning',
      },
    });
    expect(s.PlanTuning).toMatchObject({ ResultPath: '$.tuning', Next: 'TuningDone' });
    expect(s.TuningDone).toMatchObject({
      Type: 'Choice',
      Choices: [{ Variable: '$.tuning.done', BooleanEquals: true, Next: 'TrainTuned' }],
      Default: 'RunTrials',
    });
    // The Map: ItemsPath (no Distributed Map), concurrency from the plan (the input's tune.maxConcurrency).
    expect(s.RunTrials).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.tuning.trials',
      MaxConcurrencyPath: '$.tuning.maxConcurrency',
      ResultPath: '$.tuning.results',
      Next: 'PlanTuning',
    });
    expect(s.RunTrials.ItemReader).toBeUndefined();
    const trial = (
      s.RunTrials.ItemProcessor as unknown as { States: Record<string, { Parameters: unknown }> }
    ).States.TuneTrial;
    expect(trial.Parameters).toEqual({
      FunctionName: '${TrainFunctionArn}',
      Payload: {
        mode: 'trial',
        'snapshotId.$': '$.snapshotId',
        'featuresKey.$': "States.Format('features/snapshot={}/part-00000.parquet', $.snapshotId)",
        'trial.$': '$.trial',
      },
    });
    expect(s.TrainTuned.Parameters).toMatchObject({
      Payload: { 'params.$': '$.tuning.chosen.params', 'tuning.$': '$.tuning.record' },
    });
    expect(s.TrainTuned.ResultSelector).toEqual(s.Train.ResultSelector);
    expect([s.TrainTuned.ResultPath, s.TrainTuned.Next]).toEqual(['$.candidate', 'Evaluate']);
  });

  it('uses JSONPath only: no Assign, no JSONata', () => {
    const text = readAsl('training');
    expect(text).not.toMatch(/"Assign"|"QueryLanguage"|"Arguments"\s*:\s*"\{%|\{%/);
  });

  it('defaults the canary share to 10%', () => {
    expect((definition.States.Defaults.Result as { canaryWeight: number }).canaryWeight).toBe(0.1);
  });
});

describe('batch-scoring.asl.json', () => {
  it('maps over the listed shards with ItemsPath and writes one manifest after', () => {
    const d = parsed('batch-scoring');
    expect(d.StartAt).toBe('ListShards');
    expect(d.States.ScoreShards).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.plan.shards',
      Next: 'WriteManifest',
    });
  });

  it('hands each Map item its own shard and the pinned version, never the whole shard list (256 KB payloads)', () => {
    const d = parsed('batch-scoring');
    expect(d.States.ScoreShards.ItemSelector).toEqual({
      'shard.$': '$$.Map.Item.Value',
      'index.$': '$$.Map.Item.Index',
      'modelVersion.$': '$.plan.modelVersion',
      'explain.$': '$.plan.explain',
      'runId.$': '$$.Execution.Name',
    });
    // One copy of the list in the execution state: the plan keeps it once, for WriteManifest.
    expect(
      Object.keys(d.States.ListShards.ResultSelector as object).filter((k) => k.startsWith('shards')),
    ).toEqual(['shards.$']);
    expect(JSON.stringify(d.States)).not.toContain('$.plan.result');
  });

  it('carries explain from the execution input to every shard through the plan (list-shards defaults it to false)', () => {
    const d = parsed('batch-scoring');
    expect((d.States.ListShards.Parameters as { Payload: Record<string, string> }).Payload['request.$']).toBe(
      '$',
    );
    expect(d.States.ListShards.ResultSelector).toMatchObject({ 'explain.$': '$.Payload.explain' });
    const scoreShard = (
      d.States.ScoreShards as unknown as {
        ItemProcessor: { States: Record<string, { Parameters: { Payload: Record<string, string> } }> };
      }
    ).ItemProcessor.States.ScoreShard;
    expect(scoreShard.Parameters.Payload['explain.$']).toBe('$.explain');
  });
});

describe('docs/ARCHITECTURE.md', () => {
  const doc = readFileSync('docs/ARCHITECTURE.md', 'utf8');
  const section = doc.slice(doc.indexOf('## Orchestration: the training state machine'));
  const mermaid = section.slice(
    section.indexOf('```mermaid'),
    section.indexOf('```', section.indexOf('```mermaid') + 3),
  );

  it('draws every state of training.asl.json', () => {
    const definition = parsed('training');
    const names = Object.keys(definition.States);
    expect(names.filter((n) => !new RegExp(`\\b${n}\\b`).test(mermaid))).toEqual([]);
  });

  it('draws every transition of training.asl.json as an arrow', () => {
    const definition = parsed('training');
    // Edges in the diagram: "A --> B", "A -->|label| B", "A -.-> B", with "A & B -.-> C" fan-ins.
    const drawn = new Set<string>();
    for (const line of mermaid.split('\n')) {
      const parts = line.trim().split(/\s+(?:-->|-\.->)(?:\|[^|]*\|)?\s+/);
      for (let i = 0; i + 1 < parts.length; i++) {
        for (const from of parts[i].split(/\s*&\s*/)) drawn.add(`${from}>${parts[i + 1].split(/[\s([]/)[0]}`);
      }
    }
    const missing: string[] = [];
    for (const [name, s] of Object.entries(definition.States)) {
      for (const next of [
        s.Next,
        s.Default,
        ...(s.Choices ?? []).map((c) => c.Next),
        ...(s.Catch ?? []).map((c) => c.Next),
      ]) {
        if (next && !drawn.has(`${name}>${next}`)) missing.push(`${name} -> ${next}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
