import './polyfill.ts';
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { taskInputHash, type RunError, type RunEvent } from '#lib/pipeline/run-record.ts';
import { taskStates, type AslDefinition } from './definition.ts';

/**
 * Runs an ASL definition on this machine with aws-local-stepfunctions. Every Task state is
 * overridden (by state name, the library's API) with a function that does locally what the
 * state's Resource does in AWS:
 *
 *   arn:aws:states:::lambda:invoke            -> the local handler of the named function
 *   arn:aws:states:::glue:startJobRun.sync    -> the Glue job run on local pyspark (local-glue-job.ts)
 *   arn:aws:states:::codebuild:startBuild.sync -> the local build (bundle + model directory)
 *   arn:aws:states:::sns:publish              -> the local notification log
 *
 * and answers in the shape the AWS integration answers ({Payload}, {Build}, ...), so
 * ResultSelector and ResultPath behave the same. Everything else in the file (Choice, Wait,
 * Retry, Catch, Map, intrinsic functions) is the library executing the ASL as written.
 */
export interface LocalServices {
  lambda(functionName: string, payload: unknown): Promise<unknown>;
  glueJob(jobName: string, args: Record<string, string>): Promise<{ jobRunId: string }>;
  codeBuild(
    projectName: string,
    env: Record<string, string>,
  ): Promise<{ buildId: string; exported: Record<string, string> }>;
  publish(topicArn: string, subject: string | undefined, message: string): Promise<string>;
}

export interface LocalRunOptions {
  /** A definition with its placeholders already substituted. */
  definition: AslDefinition;
  input: unknown;
  executionName: string;
  stateMachineName: string;
  services: LocalServices;
  /** Wait states pause Seconds x waitScale (default 1). Locally 0.005 turns 600 s into 3 s. */
  waitScale?: number;
  /** Retry pauses are IntervalSeconds x retryScale (default: waitScale); backoff growth is not scaled. */
  retryScale?: number;
  /** Fault injection (tests only): these Task states throw InjectedFault instead of running. */
  failAt?: readonly string[];
  /** Answers from an earlier run, by taskInputHash: a Task whose input matches is not re-run. */
  reuse?: ReadonlyMap<string, unknown>;
  /** Only these states may be answered from `reuse` (steps with side effects never are). */
  reusable?: ReadonlySet<string>;
  onEvent?: (event: RunEvent) => void;
  /** $$.Execution.StartTime (default: now); the local pipeline passes its run record's startedAt, so the two agree. */
  startTime?: Date;
}

export interface LocalRunResult {
  status: 'succeeded' | 'failed';
  output?: unknown;
  error?: RunError;
}

/** The error a fault-injected Task throws: its name is what Catch and Retry match on. */
export class InjectedFault extends Error {
  constructor(state: string) {
    super(`fault injected at ${state} (CREDIT_RISK_FAIL_AT)`);
    this.name = 'InjectedFault';
  }
}

const LAMBDA_INVOKE = 'arn:aws:states:::lambda:invoke';
const GLUE_SYNC = 'arn:aws:states:::glue:startJobRun.sync';
const CODEBUILD_SYNC = 'arn:aws:states:::codebuild:startBuild.sync';
const SNS_PUBLISH = 'arn:aws:states:::sns:publish';

/** `arn:aws:lambda:r:a:function:name[:qualifier]` or a bare name -> the function name. */
export function functionNameOf(ref: string): string {
  const m = /:function:([^:]+)/.exec(ref);
  return m ? m[1] : ref;
}

type Invoke = (input: Record<string, unknown>) => Promise<unknown>;

function resourceHandler(resource: string, services: LocalServices): Invoke {
  switch (resource) {
    case LAMBDA_INVOKE:
      return async (input) => {
        const payload = await services.lambda(
          functionNameOf(String(input.FunctionName)),
          input.Payload ?? {},
        );
        return { ExecutedVersion: '$LATEST', Payload: payload ?? null, StatusCode: 200 };
      };
    case GLUE_SYNC:
      return async (input) => {
        const args = (input.Arguments ?? {}) as Record<string, string>;
        const { jobRunId } = await services.glueJob(String(input.JobName), args);
        return { Id: jobRunId, JobName: input.JobName, JobRunState: 'SUCCEEDED', Arguments: args };
      };
    case CODEBUILD_SYNC:
      return async (input) => {
        const env: Record<string, string> = {};
        for (const v of (input.EnvironmentVariablesOverride ?? []) as { Name: string; Value: string }[])
          env[v.Name] = v.Value;
        const { buildId, exported } = await services.codeBuild(String(input.ProjectName), env);
        return {
          Build: {
            Id: buildId,
            ProjectName: input.ProjectName,
            BuildStatus: 'SUCCEEDED',
            ExportedEnvironmentVariables: Object.entries(exported).map(([Name, Value]) => ({ Name, Value })),
          },
        };
      };
    case SNS_PUBLISH:
      return async (input) => ({
        MessageId: await services.publish(
          String(input.TopicArn),
          input.Subject === undefined ? undefined : String(input.Subject),
          typeof input.Message === 'string' ? input.Message : JSON.stringify(input.Message),
        ),
      });
    default:
      if (resource.startsWith('arn:aws:lambda:')) {
        return async (input) => services.lambda(functionNameOf(resource), input);
      }
      throw new Error(`the local runner has no stand-in for Task resource ${resource}`);
  }
}

// The library exports neither its event type nor its JSON type; these are derived from its API.
type Execution = ReturnType<StateMachine['run']>;
type EventLog = Execution['eventLogs'] extends AsyncGenerator<infer E> ? E : never;
type JSONValue = Parameters<StateMachine['run']>[0];

function errorOf(e: { Error: string; Cause: unknown }): RunError {
  return { error: e.Error, cause: typeof e.Cause === 'string' ? e.Cause : JSON.stringify(e.Cause) };
}

function toRunEvent(e: EventLog): RunEvent | undefined {
  const at = e.timestamp;
  switch (e.type) {
    case 'ExecutionStarted':
      return { type: e.type, at, input: e.input };
    case 'ExecutionSucceeded':
      return { type: e.type, at, output: e.output };
    case 'ExecutionFailed':
      return { type: e.type, at, error: errorOf(e) };
    case 'ExecutionAborted':
    case 'ExecutionTimeout':
      return {
        type: 'ExecutionFailed',
        at,
        error: { error: e.type === 'ExecutionTimeout' ? 'States.Timeout' : 'Aborted', cause: e.type },
      };
    case 'StateEntered':
      return {
        type: e.type,
        at,
        name: e.state.name,
        stateType: e.state.type,
        input: e.state.input,
        ...(e.index !== undefined ? { index: e.index } : {}),
      };
    case 'StateExited':
      return {
        type: e.type,
        at,
        name: e.state.name,
        output: e.state.output,
        ...(e.index !== undefined ? { index: e.index } : {}),
      };
    case 'StateFailed':
      return {
        type: e.type,
        at,
        name: e.state.name,
        error: errorOf(e),
        ...(e.index !== undefined ? { index: e.index } : {}),
      };
    case 'StateRetried':
    case 'StateCaught':
      return { type: e.type, at, name: e.state.name, ...(e.index !== undefined ? { index: e.index } : {}) };
    default:
      return undefined;
  }
}

/**
 * The definitions this process has validated (their JSON text). aws-local-stepfunctions checks a
 * definition against the ASL schema, paths and ARNs each time a StateMachine is made, compiling
 * the schema anew: ~0.2 s a run (npm start runs the training machine twice). A definition that
 * passed once is made again without the check; one that failed was never added.
 */
const validatedDefinitions = new Set<string>();

function newStateMachine(definition: StateMachineDefinition): StateMachine {
  const text = JSON.stringify(definition);
  const validated = validatedDefinitions.has(text);
  const machine = new StateMachine(definition, {
    validationOptions: validated ? { noValidate: true } : { checkPaths: true, checkArn: true },
  });
  validatedDefinitions.add(text);
  return machine;
}

export async function runLocally(options: LocalRunOptions): Promise<LocalRunResult> {
  const waitScale = options.waitScale ?? 1;
  const retryScale = options.retryScale ?? waitScale;
  const failAt = new Set(options.failAt ?? []);
  const emit = (event: RunEvent) => options.onEvent?.(event);

  const taskResourceLocalHandlers: Record<string, (input: JSONValue) => Promise<JSONValue>> = {};
  const retryIntervalOverrides: Record<string, number[]> = {};
  for (const { name, state } of taskStates(options.definition)) {
    const invoke = resourceHandler(String(state.Resource), options.services);
    const reusable = options.reusable?.has(name) ?? false;
    taskResourceLocalHandlers[name] = async (input) => {
      const inputHash = taskInputHash(name, input);
      if (failAt.has(name)) throw new InjectedFault(name);
      if (reusable && options.reuse?.has(inputHash)) {
        const result = options.reuse.get(inputHash);
        emit({ type: 'TaskAnswered', at: Date.now(), name, inputHash, result, reused: true });
        return result as JSONValue;
      }
      const result = await invoke(input as Record<string, unknown>);
      emit({ type: 'TaskAnswered', at: Date.now(), name, inputHash, result, reused: false });
      return result as JSONValue;
    };
    if (state.Retry) {
      retryIntervalOverrides[name] = state.Retry.map((r) =>
        Math.round((r.IntervalSeconds ?? 1) * 1000 * retryScale),
      );
    }
  }
  const waitTimeOverrides: Record<string, number> = {};
  for (const [name, state] of Object.entries(options.definition.States)) {
    if (state.Type === 'Wait' && typeof state.Seconds === 'number')
      waitTimeOverrides[name] = Math.round(state.Seconds * 1000 * waitScale);
  }

  const machine = newStateMachine(options.definition as unknown as StateMachineDefinition);
  const startTime = (options.startTime ?? new Date()).toISOString();
  const execution = machine.run(options.input as JSONValue, {
    overrides: { taskResourceLocalHandlers, waitTimeOverrides, retryIntervalOverrides },
    context: {
      Execution: {
        Id: `arn:aws:states:local:000000000000:execution:${options.stateMachineName}:${options.executionName}`,
        Name: options.executionName,
        Input: options.input as JSONValue,
        StartTime: startTime,
      },
      StateMachine: {
        Id: `arn:aws:states:local:000000000000:stateMachine:${options.stateMachineName}`,
        Name: options.stateMachineName,
      },
    },
  });
  let finished: LocalRunResult | undefined;
  const consume = (async () => {
    for await (const e of execution.eventLogs) {
      const event = toRunEvent(e);
      if (!event) continue;
      if (event.type === 'ExecutionSucceeded') finished = { status: 'succeeded', output: event.output };
      if (event.type === 'ExecutionFailed') finished = { status: 'failed', error: event.error };
      emit(event);
    }
  })();
  try {
    await execution.result;
  } catch {
    // The failure is reported by the ExecutionFailed event (with the error name Catch matched on).
  }
  await consume;
  return (
    finished ?? {
      status: 'failed',
      error: { error: 'States.Runtime', cause: 'the execution ended without a final event' },
    }
  );
}
