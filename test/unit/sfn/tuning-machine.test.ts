import { describe, expect, it } from '@jest/globals';
import { createRequire } from 'node:module';
import { definitionFor } from '#local/sfn/local-pipeline.ts';
import { tuningDefinition, tuningStateNames } from '#local/sfn/tuning-machine.ts';

const require = createRequire(import.meta.url);
const aslValidator = require('asl-validator') as (
  definition: unknown,
  options?: { checkPaths?: boolean; checkArn?: boolean },
) => { isValid: boolean; errorsText: (separator?: string) => string };

describe('the tuning states of training.asl.json as a machine of their own (train --tune)', () => {
  const training = definitionFor('training');
  const tuning = tuningDefinition(training);

  it('holds the tuning states as written, with the two ways out as Succeed and Fail', () => {
    expect(tuningStateNames(tuning).sort()).toEqual(
      ['PlanTuning', 'RunTrials', 'StartTuning', 'TuneTrial', 'Tuned', 'TuningDone', 'TuningFailed'].sort(),
    );
    expect(tuning.StartAt).toBe('StartTuning');
    expect(tuning.States.Tuned).toEqual({ Type: 'Succeed' });
    expect(tuning.States.TuningFailed).toMatchObject({ Type: 'Fail', Error: 'TuningFailed' });
    // Each state is the training machine's, only its way out renamed.
    const renamed = (name: string) =>
      JSON.parse(
        JSON.stringify(training.States[name])
          .replaceAll('"TrainTuned"', '"Tuned"')
          .replaceAll('"NotifyFailure"', '"TuningFailed"'),
      ) as unknown;
    for (const name of ['StartTuning', 'PlanTuning', 'TuningDone', 'RunTrials'])
      expect(tuning.States[name]).toEqual(renamed(name));
    expect(tuning.States.TuningDone.Choices?.map((c) => c.Next)).toEqual(['Tuned']);
    expect(tuning.States.PlanTuning.Catch?.map((c) => c.Next)).toEqual(['TuningFailed']);
  });

  it('is a valid state machine for asl-validator', () => {
    const result = aslValidator(tuning, { checkPaths: true, checkArn: true });
    expect(result.errorsText()).toBe('');
    expect(result.isValid).toBe(true);
  });
});
