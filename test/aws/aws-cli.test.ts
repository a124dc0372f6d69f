import { expect, it } from '@jest/globals';
import { CreateJobCommand, GetJobRunCommand, GlueClient } from '@aws-sdk/client-glue';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient, StopExecutionCommand } from '@aws-sdk/client-sfn';
import type { TurnDecision } from '#lib/pipeline/training-turn.ts';
import { cli, deployStack, finished, history, reached } from './support/deployment.ts';
import { describeWithEmulators, newBucket, queueLambdaResults, uniqueName } from './support/emulators.ts';

/** `credit-risk aws pipeline run|status` and `aws glue run|status` as an operator runs them, on moto. */
describeWithEmulators('credit-risk aws ... against the emulators', () => {
  it('pipeline run starts the training machine with the input given; status follows it', async () => {
    const s3 = new S3Client({});
    const bucket = await newBucket(s3, 'cr-cli');
    s3.destroy();
    const stack = await deployStack({
      buckets: { raw: bucket, features: bucket, models: bucket },
      modelName: 'credit-risk',
    });
    const machine = stack.stateMachineArn('training');
    const waiting: TurnDecision = {
      proceed: false,
      ahead: [{ name: 'older', startedAt: '2026-01-01T00:00:00.000Z' }],
      waitedSeconds: 0,
    };
    await queueLambdaResults([waiting]);
    const name = uniqueName('cli');
    const run = cli([
      'aws',
      'pipeline',
      'run',
      '--input',
      'raw/2024/loans.csv',
      '--canary-weight',
      '0.2',
      '--name',
      name,
      '--state-machine-arn',
      machine,
      '--json',
    ]);
    expect(run.stderr).toBe('');
    const { executionArn } = JSON.parse(run.stdout) as { executionArn: string };
    expect(executionArn).toBe(`${machine.replace(':stateMachine:', ':execution:')}:${name}`);
    // The execution reaches WaitForTurn a moment after StartExecution answers.
    const sfn = new SFNClient({});
    await reached(sfn, executionArn, 'WaitStateEntered');
    const status = JSON.parse(
      cli(['aws', 'pipeline', 'status', name, '--json', '--state-machine-arn', machine]).stdout,
    ) as {
      status: string;
      states: Array<{ name: string }>;
    };
    expect(status.status).toBe('RUNNING');
    expect(status.states.map((s) => s.name)).toEqual([
      'Defaults',
      'Configure',
      'AwaitTurn',
      'TurnToRun',
      'WaitForTurn',
    ]);
    const started = (await history(sfn, executionArn)).find((e) => e.type === 'ExecutionStarted');
    expect(JSON.parse(started!.executionStartedEventDetails!.input!)).toEqual({
      trigger: 'cli',
      input: 'raw/2024/loans.csv',
      canaryWeight: 0.2,
    });
    await sfn.send(new StopExecutionCommand({ executionArn, cause: 'test done' }));
    expect(await finished(sfn, executionArn)).toBe('ABORTED');
    sfn.destroy();
  });

  it('glue run starts the feature job with the job argument names; glue status reads the run', async () => {
    const glue = new GlueClient({});
    const jobName = uniqueName('extract-features');
    await glue.send(
      new CreateJobCommand({
        Name: jobName,
        Role: 'arn:aws:iam::123456789012:role/glue',
        Command: { Name: 'glueetl', ScriptLocation: 's3://artifacts/glue/extract_features.py' },
      }),
    );
    const run = cli([
      'aws',
      'glue',
      'run',
      '--input',
      's3://features/staging/s1/raw_valid.parquet',
      '--output',
      's3://features/staging/s1/spark/',
      '--as-of',
      '2024-05-01',
      '--job-name',
      jobName,
      '--json',
    ]);
    expect(run.stderr).toBe('');
    const { jobRunId } = JSON.parse(run.stdout) as { jobRunId: string };
    expect(jobRunId).toMatch(/^jr_/);
    const status = JSON.parse(
      cli(['aws', 'glue', 'status', jobRunId, '--job-name', jobName, '--json']).stdout,
    ) as {
      jobRunId: string;
      state: string;
    };
    // moto's job runs are canned: a state from Glue's vocabulary, not a real Spark run.
    expect(status.jobRunId).toBe(jobRunId);
    expect(['STARTING', 'RUNNING', 'SUCCEEDED']).toContain(status.state);
    const { JobRun } = await glue.send(new GetJobRunCommand({ JobName: jobName, RunId: jobRunId }));
    glue.destroy();
    expect(JobRun?.Arguments).toEqual({
      '--input': 's3://features/staging/s1/raw_valid.parquet',
      '--output': 's3://features/staging/s1/spark/',
      '--as_of': '2024-05-01',
    });
  });
});
