import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { GetJobRunCommand, GlueClient, StartJobRunCommand } from '@aws-sdk/client-glue';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { main } from '#local/cli.ts';

const sfn = mockClient(SFNClient);
const glue = mockClient(GlueClient);
const MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:credit-risk-prod-training';
const EXECUTION = 'arn:aws:states:eu-west-1:123456789012:execution:credit-risk-prod-training:run-7';

let stdout: string[];
let stderr: string[];

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  stdout = [];
  stderr = [];
  const code = await main(['node', 'credit-risk', ...args]);
  return { code, out: stdout.join(''), err: stderr.join('') };
}

beforeEach(() => {
  sfn.reset();
  glue.reset();
  jest.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => stdout.push(String(chunk)) > 0);
  jest.spyOn(process.stderr, 'write').mockImplementation((chunk: unknown) => stderr.push(String(chunk)) > 0);
  jest.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void stderr.push(`${a.join(' ')}\n`));
  delete process.env.CREDIT_RISK_TRAINING_STATE_MACHINE_ARN;
  delete process.env.CREDIT_RISK_GLUE_JOB;
});

afterEach(() => {
  jest.restoreAllMocks();
});

describe('credit-risk aws pipeline', () => {
  it('run starts an execution with the input, size and canary share given', async () => {
    sfn
      .on(StartExecutionCommand)
      .resolves({ executionArn: EXECUTION, startDate: new Date('2025-03-01T10:00:00Z') });
    const r = await cli(
      'aws',
      'pipeline',
      'run',
      '--state-machine-arn',
      MACHINE,
      '--region',
      'eu-west-1',
      '--input',
      'raw/2025/03/loans.csv',
      '--size',
      '1048576',
      '--canary-weight',
      '0.2',
      '--name',
      'run-7',
      '--json',
    );
    expect(r.code).toBe(0);
    expect(sfn.commandCalls(StartExecutionCommand).map((c) => c.args[0].input)).toEqual([
      {
        stateMachineArn: MACHINE,
        name: 'run-7',
        input: JSON.stringify({
          trigger: 'cli',
          input: 'raw/2025/03/loans.csv',
          sizeBytes: 1048576,
          canaryWeight: 0.2,
        }),
      },
    ]);
    expect(JSON.parse(r.out)).toEqual({ executionArn: EXECUTION, startDate: '2025-03-01T10:00:00.000Z' });
  });

  it('takes the state machine and region from the environment', async () => {
    process.env.CREDIT_RISK_TRAINING_STATE_MACHINE_ARN = MACHINE;
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXECUTION, startDate: new Date() });
    const r = await cli('aws', 'pipeline', 'run');
    expect(r.code).toBe(0);
    expect(r.out.trim()).toBe(EXECUTION);
    expect(sfn.commandCalls(StartExecutionCommand)[0].args[0].input).toEqual({
      stateMachineArn: MACHINE,
      input: '{"trigger":"cli"}',
    });
    expect(await sfn.call(0).thisValue.config.region()).toBe('eu-west-1');
  });

  it('explains a missing state machine and a bad canary share with exit code 2, calling nothing', async () => {
    const missing = await cli('aws', 'pipeline', 'run');
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/error \[NO_STATE_MACHINE\]: .*CREDIT_RISK_TRAINING_STATE_MACHINE_ARN/);
    const bad = await cli('aws', 'pipeline', 'run', '--state-machine-arn', MACHINE, '--canary-weight', '1.5');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/BAD_CANARY_WEIGHT/);
    expect(sfn.calls()).toHaveLength(0);
  });

  it('status of a named execution describes it and reads its whole history into a state table', async () => {
    sfn.on(DescribeExecutionCommand).resolves({
      executionArn: EXECUTION,
      name: 'run-7',
      status: 'SUCCEEDED',
      startDate: new Date('2025-03-01T10:00:00Z'),
      stopDate: new Date('2025-03-01T10:20:00Z'),
    });
    const t = (s: number) => new Date(Date.parse('2025-03-01T10:00:00Z') + s * 1000);
    sfn
      .on(GetExecutionHistoryCommand, {
        executionArn: EXECUTION,
        maxResults: 1000,
        nextToken: undefined,
        includeExecutionData: true,
      })
      .resolves({
        events: [
          {
            id: 1,
            timestamp: t(0),
            type: 'ExecutionStarted',
            executionStartedEventDetails: { input: '{"trigger":"cli"}' },
          },
          {
            id: 2,
            timestamp: t(1),
            type: 'TaskStateEntered',
            stateEnteredEventDetails: { name: 'Train', input: '{}' },
          },
          {
            id: 3,
            timestamp: t(2),
            type: 'LambdaFunctionFailed',
            lambdaFunctionFailedEventDetails: { error: 'Lambda.ServiceException', cause: 'flaky' },
          },
        ],
        nextToken: 'page2',
      });
    sfn
      .on(GetExecutionHistoryCommand, {
        executionArn: EXECUTION,
        maxResults: 1000,
        nextToken: 'page2',
        includeExecutionData: true,
      })
      .resolves({
        events: [
          {
            id: 4,
            timestamp: t(60),
            type: 'TaskStateExited',
            stateExitedEventDetails: { name: 'Train', output: '{"candidate":{"version":"abc"}}' },
          },
          {
            id: 5,
            timestamp: t(61),
            type: 'SucceedStateEntered',
            stateEnteredEventDetails: { name: 'Promoted', input: '{}' },
          },
          {
            id: 6,
            timestamp: t(61),
            type: 'SucceedStateExited',
            stateExitedEventDetails: { name: 'Promoted', output: '{}' },
          },
          {
            id: 7,
            timestamp: t(62),
            type: 'ExecutionSucceeded',
            executionSucceededEventDetails: {
              output: '{"status":"promoted","modelVersion":"' + 'c'.repeat(64) + '"}',
            },
          },
        ],
      });
    const r = await cli(
      'aws',
      'pipeline',
      'status',
      'run-7',
      '--state-machine-arn',
      MACHINE,
      '--region',
      'eu-west-1',
      '--json',
    );
    expect(r.code).toBe(0);
    expect(sfn.commandCalls(DescribeExecutionCommand)[0].args[0].input).toEqual({ executionArn: EXECUTION });
    expect(sfn.commandCalls(GetExecutionHistoryCommand)).toHaveLength(2);
    const status = JSON.parse(r.out);
    expect(status).toMatchObject({
      executionArn: EXECUTION,
      status: 'SUCCEEDED',
      decision: 'promoted',
      modelVersion: 'c'.repeat(64),
    });
    expect(status.states).toEqual([
      { name: 'Train', type: 'Task', ms: 59000, error: { error: 'Lambda.ServiceException', cause: 'flaky' } },
      { name: 'Promoted', type: 'Succeed', ms: 0, error: null },
    ]);
  });

  it('status without an execution shows the latest one', async () => {
    sfn.on(ListExecutionsCommand).resolves({
      executions: [
        {
          executionArn: EXECUTION,
          stateMachineArn: MACHINE,
          name: 'run-7',
          status: 'RUNNING',
          startDate: new Date(),
        },
      ],
    });
    sfn
      .on(DescribeExecutionCommand)
      .resolves({ executionArn: EXECUTION, name: 'run-7', status: 'RUNNING', startDate: new Date() });
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
    const r = await cli('aws', 'pipeline', 'status', '--state-machine-arn', MACHINE, '--region', 'eu-west-1');
    expect(r.code).toBe(0);
    expect(sfn.commandCalls(ListExecutionsCommand)[0].args[0].input).toEqual({
      stateMachineArn: MACHINE,
      maxResults: 1,
    });
    expect(r.out).toContain('status    running');
  });

  it('history lists the newest executions, each folded from its own history', async () => {
    const started = new Date('2026-03-02T10:00:00Z');
    sfn.on(ListExecutionsCommand).resolves({
      executions: [
        {
          executionArn: EXECUTION,
          stateMachineArn: MACHINE,
          name: 'run-7',
          status: 'SUCCEEDED',
          startDate: started,
        },
      ],
    });
    sfn.on(GetExecutionHistoryCommand).resolves({
      events: [
        {
          type: 'ExecutionStarted',
          id: 1,
          timestamp: started,
          executionStartedEventDetails: { input: '{}' },
        },
        {
          type: 'ExecutionSucceeded',
          id: 2,
          timestamp: new Date(started.getTime() + 5000),
          executionSucceededEventDetails: { output: '{"status":"rejected","modelVersion":"abc"}' },
        },
      ],
    });
    const r = await cli(
      'aws',
      'pipeline',
      'history',
      '--json',
      '--limit',
      '5',
      '--state-machine-arn',
      MACHINE,
      '--region',
      'eu-west-1',
    );
    expect(r.code).toBe(0);
    expect(sfn.commandCalls(ListExecutionsCommand)[0].args[0].input).toEqual({
      stateMachineArn: MACHINE,
      maxResults: 5,
    });
    expect(sfn.commandCalls(GetExecutionHistoryCommand)[0].args[0].input).toMatchObject({
      executionArn: EXECUTION,
    });
    expect(JSON.parse(r.out)).toEqual([
      {
        name: 'run-7',
        executionArn: EXECUTION,
        status: 'SUCCEEDED',
        decision: 'rejected',
        modelVersion: 'abc',
        startDate: started.toISOString(),
        stopDate: null,
      },
    ]);
  });

  it('history refuses a limit outside 1-100 with exit code 2, calling nothing', async () => {
    const r = await cli(
      'aws',
      'pipeline',
      'history',
      '--limit',
      '0',
      '--state-machine-arn',
      MACHINE,
      '--region',
      'eu-west-1',
    );
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--limit/);
    expect(sfn.calls()).toHaveLength(0);
  });
});

describe('credit-risk aws glue', () => {
  it('run starts the feature job on staged rows with the job argument names the state machine uses', async () => {
    process.env.CREDIT_RISK_GLUE_JOB = 'credit-risk-prod-extract-features';
    glue.on(StartJobRunCommand).resolves({ JobRunId: 'jr_1' });
    const r = await cli(
      'aws',
      'glue',
      'run',
      '--region',
      'eu-west-1',
      '--input',
      's3://features-bucket/staging/0123456789abcdef/raw_valid.parquet',
      '--output',
      's3://features-bucket/staging/0123456789abcdef/spark/',
      '--as-of',
      '2025-01-31',
      '--json',
    );
    expect(r.code).toBe(0);
    expect(glue.commandCalls(StartJobRunCommand)[0].args[0].input).toEqual({
      JobName: 'credit-risk-prod-extract-features',
      Arguments: {
        '--input': 's3://features-bucket/staging/0123456789abcdef/raw_valid.parquet',
        '--output': 's3://features-bucket/staging/0123456789abcdef/spark/',
        '--as_of': '2025-01-31',
      },
    });
    expect(JSON.parse(r.out)).toEqual({ jobRunId: 'jr_1' });
  });

  it('run refuses a path that is not an S3 URI', async () => {
    const r = await cli(
      'aws',
      'glue',
      'run',
      '--region',
      'eu-west-1',
      '--job-name',
      'j',
      '--input',
      '/tmp/loans.csv',
      '--output',
      's3://b/features/snapshot=x/',
    );
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/BAD_S3_URI.*--input/);
    expect(glue.calls()).toHaveLength(0);
  });

  it('status reads the job run', async () => {
    glue.on(GetJobRunCommand).resolves({
      JobRun: {
        Id: 'jr_1',
        JobRunState: 'FAILED',
        ExecutionTime: 93,
        ErrorMessage: 'AnalysisException: column id not found',
      },
    });
    const r = await cli(
      'aws',
      'glue',
      'status',
      'jr_1',
      '--job-name',
      'credit-risk-prod-extract-features',
      '--region',
      'eu-west-1',
    );
    expect(r.code).toBe(0);
    expect(glue.commandCalls(GetJobRunCommand)[0].args[0].input).toEqual({
      JobName: 'credit-risk-prod-extract-features',
      RunId: 'jr_1',
    });
    expect(r.out).toBe('jr_1  FAILED  93 s\nerror: AnalysisException: column id not found\n');
  });
});
