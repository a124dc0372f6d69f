import { describe, expect, it } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalTrainingStarter } from '#lib/adapters/local/local-training-starter.ts';
import type { AslDefinition } from '#local/sfn/definition.ts';
import { runLocally } from '#local/sfn/runner.ts';
import { RunStore } from '#local/runs/run-store.ts';
import { runningTrainings } from '#local/runs/running-trainings.ts';
import { trainingStarterContract } from '../../../contracts/training-starter.contract.ts';

/**
 * The local starter over a real local execution: a small state machine run by the local runner
 * (aws-local-stepfunctions), and the running list read from a real run store. The whole training
 * pipeline behind it is proven by test/integration/sfn and test/e2e.
 */
const definition: AslDefinition = {
  StartAt: 'Configure',
  States: {
    Configure: { Type: 'Pass', Parameters: { 'input.$': '$.input' }, Next: 'Done' },
    Done: { Type: 'Succeed' },
  },
};
const services = {
  lambda: async () => {
    throw new Error('no Lambda here');
  },
  glueJob: async () => {
    throw new Error('no Glue here');
  },
  codeBuild: async () => {
    throw new Error('no CodeBuild here');
  },
  publish: async () => 'unused',
};

function localStarter(home: string, executions: string[]) {
  const runs = new RunStore(join(home, 'runs'));
  return new LocalTrainingStarter(join(home, 'training-starts'), {
    async run(input) {
      const executionId = `training-${executions.length + 1}`;
      const result = await runLocally({
        definition,
        input,
        executionName: executionId,
        stateMachineName: 'training',
        services,
      });
      if (result.status !== 'succeeded') throw new Error(`local run failed: ${JSON.stringify(result.error)}`);
      executions.push(executionId);
      return { executionId };
    },
    async running() {
      return runningTrainings(runs, new Date());
    },
  });
}

describe('TrainingStarter contract: LocalTrainingStarter (the local runner)', () => {
  trainingStarterContract(async () => {
    const home = mkdtempSync(join(tmpdir(), 'cr-local-starter-'));
    return { starter: localStarter(home, []), inFlight: false };
  }, 'drift-2026-03-02-abc');
});

describe('LocalTrainingStarter', () => {
  it('of two processes racing to start one name, exactly one runs it', async () => {
    const home = mkdtempSync(join(tmpdir(), 'cr-local-starter-race-'));
    const executions: string[] = [];
    const [a, b] = [localStarter(home, executions), localStarter(home, executions)];
    const outs = await Promise.all([
      a.start({ name: 'drift-race', input: { input: 'raw/a.csv' } }),
      b.start({ name: 'drift-race', input: { input: 'raw/a.csv' } }),
    ]);
    expect(outs.map((o) => o.started).sort()).toEqual([false, true]);
    expect(executions).toEqual(['training-1']);
  });

  it('refuses a name Step Functions would refuse, with a stable code', async () => {
    const starter = localStarter(mkdtempSync(join(tmpdir(), 'cr-local-starter-name-')), []);
    await expect(starter.start({ name: 'has a space', input: {} })).rejects.toMatchObject({
      code: 'BAD_EXECUTION_NAME',
    });
  });
});
