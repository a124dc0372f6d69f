import { describe, expect, it } from '@jest/globals';
import {
  applyRunEvent,
  newRunRecord,
  reusableAnswers,
  reusedStates,
  type RunEvent,
} from '#lib/pipeline/run-record.ts';
import type { AslDefinition } from '#local/sfn/definition.ts';
import { runLocally, type LocalServices } from '#local/sfn/runner.ts';

/** A small machine that uses each kind of resource the real ones use, plus Wait, Retry, Catch, Map. */
const TOY: AslDefinition = {
  StartAt: 'Double',
  States: {
    Double: {
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke',
      Parameters: { FunctionName: 'arn:aws:lambda:eu-west-1:123456789012:function:double', 'Payload.$': '$' },
      ResultSelector: { 'value.$': '$.Payload.value' },
      ResultPath: '$.doubled',
      Retry: [{ ErrorEquals: ['TransientError'], IntervalSeconds: 30, MaxAttempts: 2, BackoffRate: 2 }],
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Tell' }],
      Next: 'Pause',
    },
    Pause: { Type: 'Wait', Seconds: 600, Next: 'Fan' },
    Fan: {
      Type: 'Map',
      ItemsPath: '$.items',
      ItemSelector: { 'item.$': '$$.Map.Item.Value' },
      ItemProcessor: {
        StartAt: 'Square',
        States: {
          Square: {
            Type: 'Task',
            Resource: 'arn:aws:states:::lambda:invoke',
            Parameters: { FunctionName: 'square', 'Payload.$': '$' },
            OutputPath: '$.Payload',
            End: true,
          },
        },
      },
      ResultPath: '$.squares',
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Tell' }],
      Next: 'Build',
    },
    Build: {
      Type: 'Task',
      Resource: 'arn:aws:states:::codebuild:startBuild.sync',
      Parameters: {
        ProjectName: 'image',
        EnvironmentVariablesOverride: [
          { Name: 'MODEL_VERSION', Type: 'PLAINTEXT', 'Value.$': "States.Format('v{}', $.doubled.value)" },
        ],
      },
      ResultSelector: { 'exported.$': '$.Build.ExportedEnvironmentVariables' },
      ResultPath: '$.build',
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Tell' }],
      Next: 'Done',
    },
    Done: { Type: 'Succeed' },
    Tell: {
      Type: 'Task',
      Resource: 'arn:aws:states:::sns:publish',
      Parameters: {
        TopicArn: 'arn:aws:sns:eu-west-1:123456789012:t',
        Subject: 'failed',
        'Message.$': '$.error.Error',
      },
      ResultPath: null,
      Next: 'Broken',
    },
    Broken: { Type: 'Fail', Error: 'ToyFailed', CausePath: '$.error.Cause' },
  },
};

function services(behaviour: { transientFailures?: number } = {}) {
  const calls: string[] = [];
  const published: string[] = [];
  let transient = behaviour.transientFailures ?? 0;
  const s: LocalServices = {
    async lambda(name, payload) {
      calls.push(name);
      const p = payload as { n?: number; item?: number };
      if (name === 'double') {
        if (transient-- > 0) {
          const e = new Error('try again');
          e.name = 'TransientError';
          throw e;
        }
        return { value: (p.n ?? 0) * 2 };
      }
      if (name === 'square') return (p.item ?? 0) ** 2;
      throw new Error(`no function ${name}`);
    },
    async glueJob() {
      return { jobRunId: 'jr_1' };
    },
    async codeBuild(project, env) {
      calls.push(`build:${project}:${env.MODEL_VERSION}`);
      return { buildId: `${project}:1`, exported: { IMAGE_URI: `local/${env.MODEL_VERSION}` } };
    },
    async publish(_topic, subject, message) {
      published.push(`${subject}: ${message}`);
      return `m-${published.length}`;
    },
  };
  return { s, calls, published };
}

async function run(options: Partial<Parameters<typeof runLocally>[0]> & { services: LocalServices }) {
  const record = newRunRecord({
    executionId: 'toy-1',
    stateMachine: 'toy',
    input: null,
    startedAt: new Date(),
  });
  const events: RunEvent[] = [];
  const result = await runLocally({
    definition: TOY,
    input: { n: 21, items: [1, 2, 3] },
    executionName: 'toy-1',
    stateMachineName: 'toy',
    waitScale: 0.0001,
    ...options,
    onEvent: (e) => {
      events.push(e);
      applyRunEvent(record, e);
    },
  });
  return { result, record, events };
}

describe('local state-machine runner (aws-local-stepfunctions, Node 20 polyfill)', () => {
  it('runs Task, Wait, Map and CodeBuild states and answers in the AWS integration shapes', async () => {
    const { s, calls } = services();
    const started = Date.now();
    const { result, record } = await run({ services: s });
    expect(result.status).toBe('succeeded');
    expect(result.output).toMatchObject({
      doubled: { value: 42 },
      squares: [1, 4, 9],
      build: { exported: [{ Name: 'IMAGE_URI', Value: 'local/v42' }] },
    });
    expect(calls).toEqual(['double', 'square', 'square', 'square', 'build:image:v42']);
    // A 600 s Wait scaled by 0.0001 takes 60 ms, not ten minutes.
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(record.status).toBe('succeeded');
    expect(record.states.filter((st) => st.index === undefined).map((st) => st.name)).toEqual([
      'Double',
      'Pause',
      'Fan',
      'Build',
      'Done',
    ]);
    expect(
      record.states
        .filter((st) => st.name === 'Square')
        .map((st) => st.index)
        .sort(),
    ).toEqual([0, 1, 2]);
    const double = record.states[0];
    expect(double.ms).toBeGreaterThanOrEqual(0);
    expect(double.input).toEqual({ n: 21, items: [1, 2, 3] });
    expect(record.tasks.find((t) => t.name === 'Double')?.result).toEqual({
      ExecutedVersion: '$LATEST',
      Payload: { value: 42 },
      StatusCode: 200,
    });
  });

  it('refuses an invalid definition every time, and runs a valid one again after checking it once', async () => {
    const { s } = services();
    // A Next that names no state: the ASL check refuses it, on the second attempt too.
    const broken = {
      ...TOY,
      States: { ...TOY.States, Double: { ...TOY.States.Double, Next: 'Nowhere' } },
    } as AslDefinition;
    await expect(run({ services: s, definition: broken })).rejects.toThrow();
    await expect(run({ services: s, definition: broken })).rejects.toThrow();
    for (let k = 0; k < 2; k++) expect((await run({ services: s })).result.status).toBe('succeeded');
  });

  it('retries a transient error and counts the retry', async () => {
    const { s, calls } = services({ transientFailures: 1 });
    const { result, record } = await run({ services: s });
    expect(result.status).toBe('succeeded');
    expect(calls.filter((c) => c === 'double')).toHaveLength(2);
    expect(record.states[0]).toMatchObject({ name: 'Double', retries: 1 });
    expect(record.states[0].error).toBeUndefined();
  });

  it('fails at an injected fault, takes the Catch path and records the error', async () => {
    const { s, calls, published } = services();
    const { result, record } = await run({ services: s, failAt: ['Build'] });
    expect(result).toMatchObject({
      status: 'failed',
      error: { error: 'ToyFailed', cause: 'fault injected at Build (CREDIT_RISK_FAIL_AT)' },
    });
    expect(calls).not.toContain('build:image:v42');
    expect(published).toEqual(['failed: InjectedFault']);
    const build = record.states.find((st) => st.name === 'Build');
    expect(build).toMatchObject({ caught: true, error: { error: 'InjectedFault' } });
    expect(record.states.at(-1)?.name).toBe('Broken');
    expect(record.status).toBe('failed');
  });

  it('answers reusable Tasks from an earlier run when their input is the same', async () => {
    const first = services();
    const { record } = await run({ services: first.s, failAt: ['Build'] });
    const reuse = reusableAnswers(record, new Set(['Double', 'Build']));
    const again = services();
    const { result, record: second } = await run({
      services: again.s,
      reuse,
      reusable: new Set(['Double', 'Build']),
    });
    expect(result.status).toBe('succeeded');
    // Double came from the first run; Build had failed there, so it ran now; Square is not reusable.
    expect(again.calls).toEqual(['square', 'square', 'square', 'build:image:v42']);
    expect(reusedStates(second)).toEqual(['Double']);
  });
});
