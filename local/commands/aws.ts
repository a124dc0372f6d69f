import type { Command } from 'commander';
import { GetJobRunCommand, GlueClient, StartJobRunCommand } from '@aws-sdk/client-glue';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  SFNClient,
  StartExecutionCommand,
  type HistoryEvent,
} from '@aws-sdk/client-sfn';
import { LambdaAliasDeployer } from '#lib/adapters/aws/lambda-alias-deployer.ts';
import { S3ObjectStore } from '#lib/adapters/aws/s3-object-store.ts';
import { moveChampion, type ChampionMove } from '#lib/deploy/champion-moves.ts';
import { InputError } from '#lib/errors.ts';
import { recordFromHistory } from '#lib/pipeline/execution-history.ts';
import { runDecision, runModelVersion } from '#lib/pipeline/run-record.ts';
import { canaryDeadline, canaryExpired } from '#lib/registry/aliases.ts';
import { DEFAULT_MODEL_NAME, ModelRegistry, shortId } from '#lib/registry/registry.ts';
import { aliasLine, cliActor, reportChange, short } from '#local/registry-view.ts';
import { formatHistory, formatRunStatus } from '#local/runs/run-view.ts';

/**
 * `credit-risk aws ...`: operate the deployed system from a laptop with the caller's AWS
 * credentials (the SDK's default chain). Region and resource names come from options, then from
 * the environment (AWS_REGION, CREDIT_RISK_TRAINING_STATE_MACHINE_ARN, CREDIT_RISK_GLUE_JOB,
 * CREDIT_RISK_MODELS_BUCKET, CREDIT_RISK_PREDICT_FUNCTION), the same values `serverless info`
 * prints after a deploy (and the training run's failure notification names).
 */
interface AwsOptions {
  region?: string;
  json?: boolean;
}

interface PipelineOptions extends AwsOptions {
  stateMachineArn?: string;
}

const out = (line: string) => process.stdout.write(`${line}\n`);
const progress = (line: string) => process.stderr.write(`${line}\n`);

function region(options: AwsOptions): string {
  const r = options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  if (!r) throw new InputError('NO_REGION', 'no AWS region: pass --region or set AWS_REGION');
  return r;
}

function stateMachineArn(options: PipelineOptions): string {
  const arn = options.stateMachineArn ?? process.env.CREDIT_RISK_TRAINING_STATE_MACHINE_ARN;
  if (!arn) {
    throw new InputError(
      'NO_STATE_MACHINE',
      'no training state machine: pass --state-machine-arn or set CREDIT_RISK_TRAINING_STATE_MACHINE_ARN (serverless info lists it)',
    );
  }
  if (!/^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]+$/.test(arn)) {
    throw new InputError(
      'BAD_STATE_MACHINE_ARN',
      `${arn} is not a state machine ARN (arn:aws:states:REGION:ACCOUNT:stateMachine:NAME)`,
    );
  }
  return arn;
}

/** An execution ARN, or a bare execution name under the state machine. */
export function executionArn(machineArn: string, ref: string): string {
  if (ref.startsWith('arn:')) return ref;
  if (!/^[A-Za-z0-9_-]{1,80}$/.test(ref))
    throw new InputError(
      'BAD_EXECUTION',
      `${JSON.stringify(ref)} is neither an execution ARN nor an execution name`,
    );
  return `${machineArn.replace(':stateMachine:', ':execution:')}:${ref}`;
}

export function trainingInput(options: {
  input?: string;
  size?: string;
  canaryWeight?: string;
}): Record<string, unknown> {
  const input: Record<string, unknown> = { trigger: 'cli' };
  if (options.input !== undefined) input.input = options.input;
  if (options.size !== undefined) {
    const n = Number(options.size);
    if (!Number.isInteger(n) || n < 0)
      throw new InputError(
        'BAD_SIZE',
        `--size must be a whole number of bytes, got ${JSON.stringify(options.size)}`,
      );
    input.sizeBytes = n;
  }
  if (options.canaryWeight !== undefined) {
    const w = Number(options.canaryWeight);
    if (!(w > 0 && w < 1))
      throw new InputError(
        'BAD_CANARY_WEIGHT',
        `--canary-weight must be in (0, 1), got ${JSON.stringify(options.canaryWeight)}`,
      );
    input.canaryWeight = w;
  }
  return input;
}

async function fullHistory(sfn: SFNClient, arn: string): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(
      new GetExecutionHistoryCommand({
        executionArn: arn,
        maxResults: 1000,
        nextToken,
        includeExecutionData: true,
      }),
    );
    events.push(...(page.events ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return events;
}

async function pipelineStatus(options: PipelineOptions, ref: string | undefined): Promise<void> {
  const machine = stateMachineArn(options);
  const sfn = new SFNClient({ region: region(options) });
  let arn: string;
  if (ref) arn = executionArn(machine, ref);
  else {
    const latest = await sfn.send(new ListExecutionsCommand({ stateMachineArn: machine, maxResults: 1 }));
    const first = latest.executions?.[0]?.executionArn;
    if (!first) throw new InputError('NO_RUNS', `state machine ${machine} has no executions yet`);
    arn = first;
  }
  const described = await sfn.send(new DescribeExecutionCommand({ executionArn: arn }));
  const record = recordFromHistory({
    executionId: described.name ?? arn,
    stateMachine: machine.split(':').at(-1) ?? machine,
    startedAt: described.startDate ?? new Date(0),
    history: await fullHistory(sfn, arn),
    status: described.status,
  });
  if (options.json) {
    out(
      JSON.stringify(
        {
          executionArn: arn,
          status: described.status,
          decision: runDecision(record),
          modelVersion: runModelVersion(record),
          startDate: described.startDate?.toISOString() ?? null,
          stopDate: described.stopDate?.toISOString() ?? null,
          error: described.error ?? null,
          cause: described.cause ?? null,
          states: record.states.map((s) => ({
            name: s.name,
            type: s.type,
            ms: s.ms ?? null,
            error: s.error ?? null,
          })),
        },
        null,
        2,
      ),
    );
    return;
  }
  out(`${arn}\n${formatRunStatus(record)}`);
}

interface ModelsOptions extends AwsOptions {
  modelsBucket?: string;
  functionName?: string;
  alias: string;
  name: string;
}

/** The registry in the models bucket and the predict function's alias, as the canary function sees them. */
function openServing(options: ModelsOptions): { registry: ModelRegistry; deployer: LambdaAliasDeployer } {
  const bucket = options.modelsBucket ?? process.env.CREDIT_RISK_MODELS_BUCKET;
  if (!bucket)
    throw new InputError(
      'NO_MODELS_BUCKET',
      'no models bucket: pass --models-bucket or set CREDIT_RISK_MODELS_BUCKET (the stack output ModelsBucketName)',
    );
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket))
    throw new InputError('BAD_BUCKET', `${JSON.stringify(bucket)} is not an S3 bucket name`);
  const fn = options.functionName ?? process.env.CREDIT_RISK_PREDICT_FUNCTION;
  if (!fn)
    throw new InputError(
      'NO_PREDICT_FUNCTION',
      'no predict function: pass --function-name or set CREDIT_RISK_PREDICT_FUNCTION (credit-risk-<stage>-predict)',
    );
  const r = region(options);
  return {
    registry: new ModelRegistry(new S3ObjectStore(new S3Client({ region: r }), bucket), {
      name: options.name,
      actor: cliActor(),
    }),
    deployer: new LambdaAliasDeployer(new LambdaClient({ region: r }), fn, options.alias),
  };
}

async function moveCommand(options: ModelsOptions & { reason: string }, move: ChampionMove): Promise<void> {
  const steps = openServing(options);
  const result = await moveChampion(steps, move, { why: options.reason });
  if (options.json) {
    out(
      JSON.stringify(
        {
          aliases: result.aliases,
          entry: result.entry ?? null,
          functionVersion: result.functionVersion,
          routed: result.routed,
          before: result.before ?? null,
        },
        null,
        2,
      ),
    );
    return;
  }
  progress(
    result.routed
      ? `${options.alias}: all traffic to version ${result.functionVersion}`
      : `${options.alias}: already all traffic to version ${result.functionVersion ?? '-'}`,
  );
  reportChange(options, result, new Date());
}

/** The registry's aliases and the alias's routing side by side, with what each version serves. */
async function modelsStatus(options: ModelsOptions): Promise<void> {
  const { registry, deployer } = openServing(options);
  const [aliases, routing] = await Promise.all([registry.aliases(), deployer.routing()]);
  const now = new Date();
  const served = async (functionVersion: string | undefined) =>
    functionVersion === undefined ? null : ((await deployer.modelOf(functionVersion)) ?? null);
  const primaryModel = await served(routing?.functionVersion);
  const canaryModel = await served(routing?.canary?.functionVersion);
  const deadline = canaryDeadline(aliases);
  // In agreement: the alias's primary serves the champion (or names no model: a stack-deployed
  // version) and its canary, if any, is the registry's live canary.
  const problems: string[] = [];
  if (!routing) problems.push(`the alias ${options.alias} does not exist`);
  else {
    if (primaryModel !== null && primaryModel !== aliases.champion)
      problems.push(
        `the alias serves ${short(primaryModel)}, the registry's champion is ${short(aliases.champion)}`,
      );
    const liveCanary = aliases.canary && !canaryExpired(aliases, now) ? aliases.canary.version : null;
    const aliasCanary = routing.canary ? canaryModel : null;
    if (routing.canary ? aliasCanary !== liveCanary || liveCanary === null : liveCanary !== null) {
      const serves = !routing.canary
        ? 'nothing'
        : aliasCanary === null
          ? `version ${routing.canary.functionVersion} (names no model)`
          : short(aliasCanary);
      problems.push(
        `the alias's canary serves ${serves}, the registry's live canary is ${short(liveCanary)}` +
          (aliases.canary && liveCanary === null
            ? ' (it expired: the expiry schedule takes its weight off within minutes)'
            : ''),
      );
    }
  }
  const view = {
    registry: {
      champion: aliases.champion,
      canary: aliases.canary
        ? {
            ...aliases.canary,
            deadline: deadline?.toISOString() ?? null,
            expired: canaryExpired(aliases, now),
          }
        : null,
      previousChampions: aliases.previousChampions,
      updatedAt: aliases.updatedAt,
    },
    alias: routing
      ? {
          name: options.alias,
          functionVersion: routing.functionVersion,
          model: primaryModel,
          canary: routing.canary ? { ...routing.canary, model: canaryModel } : null,
        }
      : null,
    inAgreement: problems.length === 0,
    problems,
  };
  if (options.json) {
    out(JSON.stringify(view, null, 2));
    return;
  }
  out(
    `registry: ${aliasLine(aliases, now)}; previous ${aliases.previousChampions.map(shortId).join(', ') || '-'}`,
  );
  out(
    routing
      ? `alias ${options.alias}: version ${routing.functionVersion} (model ${short(primaryModel)})` +
          (routing.canary
            ? ` + ${routing.canary.weight} on version ${routing.canary.functionVersion} (model ${short(canaryModel)})`
            : '')
      : `alias ${options.alias}: none`,
  );
  out(problems.length === 0 ? 'in agreement' : problems.map((p) => `MISMATCH: ${p}`).join('\n'));
}

/** The newest executions of the machine, each folded from its history like `pipeline status`. */
async function pipelineHistory(options: PipelineOptions & { limit: string }): Promise<void> {
  const limit = Number(options.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100)
    throw new InputError(
      'BAD_LIMIT',
      `--limit must be a whole number from 1 to 100, got ${JSON.stringify(options.limit)}`,
    );
  const machine = stateMachineArn(options);
  const sfn = new SFNClient({ region: region(options) });
  const listed = await sfn.send(new ListExecutionsCommand({ stateMachineArn: machine, maxResults: limit }));
  const runs = [];
  for (const e of listed.executions ?? []) {
    if (!e.executionArn) continue;
    const record = recordFromHistory({
      executionId: e.name ?? e.executionArn,
      stateMachine: machine.split(':').at(-1) ?? machine,
      startedAt: e.startDate ?? new Date(0),
      history: await fullHistory(sfn, e.executionArn),
      status: e.status,
    });
    runs.push({ execution: e, record });
  }
  if (options.json) {
    out(
      JSON.stringify(
        runs.map(({ execution: e, record }) => ({
          name: e.name ?? null,
          executionArn: e.executionArn,
          status: e.status ?? null,
          decision: runDecision(record),
          modelVersion: runModelVersion(record),
          startDate: e.startDate?.toISOString() ?? null,
          stopDate: e.stopDate?.toISOString() ?? null,
        })),
        null,
        2,
      ),
    );
    return;
  }
  out(
    runs.length === 0
      ? `state machine ${machine} has no executions yet`
      : formatHistory(runs.map((r) => r.record)),
  );
}

export function register(program: Command): void {
  const aws = program
    .command('aws')
    .description(
      'operate the deployed system in an AWS account: training runs, the Glue feature job, and the champion (rollback, promote)',
    )
    .addHelpText(
      'after',
      '\nUses your AWS credentials (the SDK default chain: env, ~/.aws, SSO). Region: --region or AWS_REGION.\n' +
        'Examples:\n' +
        '  export CREDIT_RISK_TRAINING_STATE_MACHINE_ARN=arn:aws:states:eu-west-1:123456789012:stateMachine:credit-risk-prod-training\n' +
        '  credit-risk aws pipeline run --input raw/2025/03/loans.csv\n' +
        '  credit-risk aws pipeline status              # the latest execution\n' +
        '  credit-risk aws pipeline history --limit 5   # the newest executions and their outcome\n' +
        '  credit-risk aws glue run --input s3://credit-risk-prod-raw/raw/big/ --output s3://credit-risk-prod-features/features/snapshot=big-1/\n' +
        '  credit-risk aws glue status jr_0123456789abcdef\n' +
        '  credit-risk aws models rollback --models-bucket BUCKET --function-name credit-risk-prod-predict\n',
    );

  const pipeline = aws.command('pipeline').description('the training state machine in Step Functions');
  pipeline
    .command('run')
    .description('start a training execution (StartExecution); prints its ARN')
    .option(
      '--input <key>',
      'raw object key or prefix in the raw bucket (default: the state machine default, raw/)',
    )
    .option('--size <bytes>', 'input size in bytes; above the configured size the Glue job extracts features')
    .option('--canary-weight <w>', 'share of traffic for the canary, in (0, 1) (default 0.1)')
    .option('--name <name>', 'execution name (default: generated by Step Functions)')
    .option('--state-machine-arn <arn>', 'default $CREDIT_RISK_TRAINING_STATE_MACHINE_ARN')
    .option('--region <region>', 'default $AWS_REGION')
    .option('--json', 'print {executionArn, startDate} as JSON')
    .action(
      async (
        options: PipelineOptions & { input?: string; size?: string; canaryWeight?: string; name?: string },
      ) => {
        const machine = stateMachineArn(options);
        const input = trainingInput(options);
        const sfn = new SFNClient({ region: region(options) });
        const started = await sfn.send(
          new StartExecutionCommand({
            stateMachineArn: machine,
            input: JSON.stringify(input),
            ...(options.name ? { name: options.name } : {}),
          }),
        );
        if (options.json)
          out(
            JSON.stringify({
              executionArn: started.executionArn,
              startDate: started.startDate?.toISOString() ?? null,
            }),
          );
        else {
          out(started.executionArn ?? '');
          progress(`follow it: credit-risk aws pipeline status ${started.executionArn ?? ''}`);
        }
      },
    );
  pipeline
    .command('status [execution]')
    .description(
      'state by state view of an execution (DescribeExecution + GetExecutionHistory); default: the latest',
    )
    .option('--state-machine-arn <arn>', 'default $CREDIT_RISK_TRAINING_STATE_MACHINE_ARN')
    .option('--region <region>', 'default $AWS_REGION')
    .option('--json', 'machine-readable status')
    .action(async (execution: string | undefined, options: PipelineOptions) =>
      pipelineStatus(options, execution),
    );
  pipeline
    .command('history')
    .description(
      'the newest executions, newest first: status, decision, model, seconds (one history read each)',
    )
    .option('--limit <n>', 'at most this many executions (1-100)', '20')
    .option('--state-machine-arn <arn>', 'default $CREDIT_RISK_TRAINING_STATE_MACHINE_ARN')
    .option('--region <region>', 'default $AWS_REGION')
    .option('--json', 'one summary object per execution')
    .action(async (options: PipelineOptions & { limit: string }) => pipelineHistory(options));

  const models = aws
    .command('models')
    .description("the model registry (models bucket) and the predict function's `live` alias, moved together")
    .addHelpText(
      'after',
      '\nThe serving alias moves first, then the registry, which records the same audit entry as the local\n' +
        '`credit-risk models promote|rollback` (docs/adr/0115-aws-rollback-order.md). A crash in between\n' +
        'leaves the alias moved and the registry not: run the same command again and it completes.\n' +
        'Promote and rollback route only to a model the training pipeline deployed (its function version is\n' +
        'described model=<sha256>); the failure and new-champion notifications print these commands filled in.\n' +
        'Examples:\n' +
        '  export CREDIT_RISK_MODELS_BUCKET=credit-risk-prod-modelsbucket-1a2b3c4d5e6f\n' +
        '  export CREDIT_RISK_PREDICT_FUNCTION=credit-risk-prod-predict\n' +
        '  credit-risk aws models status\n' +
        '  credit-risk aws models rollback --reason "p99 latency doubled"\n' +
        '  credit-risk aws models promote 3fa9c2e1\n',
    );
  const withServing = (cmd: Command) =>
    cmd
      .option('--models-bucket <bucket>', 'the registry bucket (default $CREDIT_RISK_MODELS_BUCKET)')
      .option('--function-name <name>', 'the predict function (default $CREDIT_RISK_PREDICT_FUNCTION)')
      .option('--alias <name>', 'the serving alias', 'live')
      .option('--name <model>', 'model name in the registry', DEFAULT_MODEL_NAME)
      .option('--region <region>', 'default $AWS_REGION')
      .option('--json', 'machine-readable result');
  withServing(
    models
      .command('status')
      .description(
        "the registry's champion and canary (with its deadline) beside the alias's routing and the model each version serves",
      ),
  ).action(async (options: ModelsOptions) => modelsStatus(options));
  withServing(
    models
      .command('rollback')
      .description(
        'put the previous champion back: the alias to its version alone, then the registry (audited)',
      )
      .option('--reason <text>', 'why, for the audit log', 'rolled back from the command line'),
  ).action(async (options: ModelsOptions & { reason: string }) =>
    moveCommand(options, { action: 'rollback' }),
  );
  withServing(
    models
      .command('promote')
      .argument('<version>', 'a version, a unique prefix, or canary')
      .description('make a version the champion: the alias to its version alone, then the registry (audited)')
      .option('--reason <text>', 'why, for the audit log', 'promoted from the command line'),
  ).action(async (ref: string, options: ModelsOptions & { reason: string }) =>
    moveCommand(options, { action: 'promote', ref }),
  );
  withServing(
    models
      .command('clear-canary')
      .description('end the canary now: its weight off the alias, then the registry (audited)')
      .option('--reason <text>', 'why, for the audit log', 'canary cleared from the command line'),
  ).action(async (options: ModelsOptions & { reason: string }) =>
    moveCommand(options, { action: 'clear-canary' }),
  );

  const glue = aws
    .command('glue')
    .description(
      'the Spark feature job in Glue (the same feature SQL as DuckDB, for inputs too large for one Lambda)',
    );
  const jobName = (options: { jobName?: string }) => {
    const name = options.jobName ?? process.env.CREDIT_RISK_GLUE_JOB;
    if (!name)
      throw new InputError(
        'NO_GLUE_JOB',
        'no Glue job: pass --job-name or set CREDIT_RISK_GLUE_JOB (e.g. credit-risk-prod-extract-features)',
      );
    return name;
  };
  glue
    .command('run')
    .description(
      'start the feature job (StartJobRun) on rows the prepare stage staged; prints the job run id. The training ' +
        'state machine runs prepare -> this job -> publish itself (docs/ARCHITECTURE.md); this is for operators re-running the job',
    )
    .requiredOption(
      '--input <s3uri>',
      'validated rows: s3://<features bucket>/staging/<snapshot id>/raw_valid.parquet',
    )
    .requiredOption(
      '--output <s3uri>',
      'job output prefix: s3://<features bucket>/staging/<snapshot id>/spark/',
    )
    .option('--as-of <date>', 'the snapshot date YYYY-MM-DD, recorded by the job (prepared.json has it)')
    .option('--job-name <name>', 'default $CREDIT_RISK_GLUE_JOB')
    .option('--region <region>', 'default $AWS_REGION')
    .option('--json', 'print {jobRunId} as JSON')
    .action(
      async (options: AwsOptions & { input: string; output: string; asOf?: string; jobName?: string }) => {
        for (const [flag, value] of [
          ['--input', options.input],
          ['--output', options.output],
        ] as const) {
          if (!/^s3:\/\/[a-z0-9.-]{3,63}\/./.test(value))
            throw new InputError(
              'BAD_S3_URI',
              `${flag} must be s3://bucket/key, got ${JSON.stringify(value)}`,
            );
        }
        if (options.asOf !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(options.asOf)) {
          throw new InputError('BAD_DATE', `--as-of must be YYYY-MM-DD, got ${JSON.stringify(options.asOf)}`);
        }
        const client = new GlueClient({ region: region(options) });
        const started = await client.send(
          new StartJobRunCommand({
            JobName: jobName(options),
            // The job's own argument names (jobs/glue/extract_features.py), as the state machine passes them.
            Arguments: {
              '--input': options.input,
              '--output': options.output,
              ...(options.asOf ? { '--as_of': options.asOf } : {}),
            },
          }),
        );
        if (options.json) out(JSON.stringify({ jobRunId: started.JobRunId ?? null }));
        else {
          out(started.JobRunId ?? '');
          progress(`follow it: credit-risk aws glue status ${started.JobRunId ?? ''}`);
        }
      },
    );
  glue
    .command('status <runId>')
    .description('state, duration and error of a job run (GetJobRun)')
    .option('--job-name <name>', 'default $CREDIT_RISK_GLUE_JOB')
    .option('--region <region>', 'default $AWS_REGION')
    .option('--json', 'machine-readable status')
    .action(async (runId: string, options: AwsOptions & { jobName?: string }) => {
      const client = new GlueClient({ region: region(options) });
      const { JobRun: run } = await client.send(
        new GetJobRunCommand({ JobName: jobName(options), RunId: runId }),
      );
      const view = {
        jobRunId: run?.Id ?? runId,
        state: run?.JobRunState ?? 'UNKNOWN',
        startedOn: run?.StartedOn?.toISOString() ?? null,
        completedOn: run?.CompletedOn?.toISOString() ?? null,
        executionSeconds: run?.ExecutionTime ?? null,
        error: run?.ErrorMessage ?? null,
      };
      if (options.json) out(JSON.stringify(view, null, 2));
      else {
        out(
          `${view.jobRunId}  ${view.state}${view.executionSeconds !== null ? `  ${view.executionSeconds} s` : ''}`,
        );
        if (view.error) out(`error: ${view.error}`);
      }
    });
}
