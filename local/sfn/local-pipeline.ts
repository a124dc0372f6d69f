import { InputError } from '#lib/errors.ts';
import { reusableAnswers, type RunEvent, type RunRecord } from '#lib/pipeline/run-record.ts';
import { DEFAULT_MODEL_NAME, ModelRegistry } from '#lib/registry/registry.ts';
import type { LocalRoot } from '#local/root.ts';
import { newExecutionName, RunStore } from '#local/runs/run-store.ts';
import { readAsl, substitute, type AslDefinition, type StateMachineName } from './definition.ts';
import {
  localDeployment,
  localFunctions,
  type LocalDeployment,
  type LocalFunction,
} from './local-functions.ts';
import { localFeatureGlueJob, type LocalGlueJob } from './local-glue-job.ts';
import { runLocally, type LocalRunResult, type LocalServices } from './runner.ts';
import { crashPoint } from '#lib/crash-point.ts';

/**
 * `credit-risk pipeline run` underneath: the training ASL file, run on this machine against the
 * local root, recorded under home.runs. The ${Placeholders} get local names (function names the
 * local function table knows, a topic the notification log stands for), as DefinitionSubstitutions
 * give AWS ARNs.
 */
export const LOCAL_SUBSTITUTIONS: Readonly<Record<string, string>> = Object.freeze({
  ExtractFeaturesFunctionArn: 'arn:aws:lambda:local:000000000000:function:extract-features',
  TrainingTurnFunctionArn: 'arn:aws:lambda:local:000000000000:function:training-turn',
  TrainFunctionArn: 'arn:aws:lambda:local:000000000000:function:train',
  EvaluateFunctionArn: 'arn:aws:lambda:local:000000000000:function:evaluate',
  RegisterFunctionArn: 'arn:aws:lambda:local:000000000000:function:register',
  CanaryFunctionArn: 'arn:aws:lambda:local:000000000000:function:canary',
  BatchScoreFunctionArn: 'arn:aws:lambda:local:000000000000:function:batch-score',
  FeatureGlueJobName: 'extract-features',
  ImageBuildProjectName: 'predict-image',
  NotificationTopicArn: 'arn:aws:sns:local:000000000000:credit-risk-notifications',
  RawBucketName: 'raw',
  FeaturesBucketName: 'features',
  ModelsBucketName: 'models',
  PredictFunctionName: 'predict',
  PredictAliasName: 'live',
  ModelName: DEFAULT_MODEL_NAME,
});

/**
 * Steps whose answers a resumed run takes from the failed one when their input is unchanged:
 * the expensive, content-addressed ones, and ResolveInput, so a resumed run reads the raw file
 * the failed run resolved its prefix to even if a newer drop has landed since (as a redrive in AWS
 * keeps the states that succeeded). Evaluate is re-run (it reads the champion, which may
 * have moved); Register is re-run because it is free when repeated (same bytes, same version,
 * nothing written) and its audit line names the run; the canary steps act on live aliases and
 * always run. A tuning trial (TuneTrial, in the RunTrials Map) answers numbers from the snapshot and
 * its params alone, so a resumed run reuses each finished one; PlanTuning is re-run (its budget
 * clock starts again) and, drawing the same configurations for the same seed, asks for the same
 * trials.
 */
export const REUSABLE_STATES: ReadonlySet<string> = new Set([
  'ResolveInput',
  'ExtractFeatures',
  'PrepareGlueFeatures',
  'ExtractFeaturesGlue',
  'PublishGlueFeatures',
  'Train',
  'TuneTrial',
  'TrainTuned',
  'BuildImage',
]);

/** Local Wait states: 600 s of canary watch become 600 x 0.01 = 6 s (CREDIT_RISK_WAIT_SCALE). */
export const DEFAULT_LOCAL_WAIT_SCALE = 0.01;

export function definitionFor(name: StateMachineName): AslDefinition {
  return JSON.parse(substitute(readAsl(name), LOCAL_SUBSTITUTIONS)) as AslDefinition;
}

/** CREDIT_RISK_FAIL_AT=Train,BuildImage -> ['Train', 'BuildImage'] (tests only). */
export function failAtFromEnv(env: Record<string, string | undefined> = process.env): string[] {
  return (env.CREDIT_RISK_FAIL_AT ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

export function waitScaleFromEnv(env: Record<string, string | undefined> = process.env): number {
  const raw = env.CREDIT_RISK_WAIT_SCALE;
  if (raw === undefined || raw === '') return DEFAULT_LOCAL_WAIT_SCALE;
  const n = Number(raw);
  if (!(n >= 0) || !Number.isFinite(n))
    throw new InputError(
      'BAD_WAIT_SCALE',
      `CREDIT_RISK_WAIT_SCALE must be a number >= 0, got ${JSON.stringify(raw)}`,
    );
  return n;
}

export interface LocalPipelineOptions {
  root: LocalRoot;
  /** Execution input (state-machines/training.asl.json, every field optional). */
  input: Record<string, unknown>;
  stateMachine?: StateMachineName;
  executionName?: string;
  waitScale?: number;
  failAt?: readonly string[];
  /** A failed run to resume: same input, finished steps reused. */
  resume?: RunRecord;
  /** Replace or add local functions (tests). */
  functions?: Record<string, LocalFunction>;
  /** Replace or add local Glue jobs by job name (tests that do not exercise pyspark). */
  glueJobs?: Record<string, LocalGlueJob>;
  deployment?: LocalDeployment;
  onEvent?: (event: RunEvent, record: RunRecord) => void;
}

export interface LocalPipelineRun {
  record: RunRecord;
  result: LocalRunResult;
}

/**
 * Before the first local canary: a registry champion that the local alias table does not serve
 * yet (promoted with `credit-risk models promote`, or by an older checkout) gets its build and
 * version, as the stack's first deploy gives the real alias its first version.
 */
export async function alignAliasWithRegistry(
  root: LocalRoot,
  deployment: LocalDeployment,
  modelName = DEFAULT_MODEL_NAME,
): Promise<void> {
  const champion = (await new ModelRegistry(root.objectStore, { name: modelName }).aliases()).champion;
  if (!champion) return;
  const routing = await deployment.deployer.routing();
  if (routing && (await deployment.deployer.modelOf(routing.functionVersion)) === champion) return;
  const built = await deployment.builder.build({ modelName, modelVersion: champion });
  const version = await deployment.deployer.publish({
    modelVersion: champion,
    artifact: built.artifact,
    buildId: built.buildId,
  });
  await deployment.deployer.route({ functionVersion: version.functionVersion, canary: null });
}

export async function runPipelineLocally(options: LocalPipelineOptions): Promise<LocalPipelineRun> {
  const { root } = options;
  const stateMachine = options.stateMachine ?? 'training';
  const deployment = options.deployment ?? localDeployment(root);
  const functions = { ...localFunctions(root, deployment), ...options.functions };
  await alignAliasWithRegistry(root, deployment);

  // The Glue job is jobs/glue/extract_features.py on local pyspark, over the local object store.
  const glueJobs: Record<string, LocalGlueJob> = {
    [LOCAL_SUBSTITUTIONS.FeatureGlueJobName]: localFeatureGlueJob({
      store: root.objectStore,
      tmpDir: root.home.tmp,
    }),
    ...options.glueJobs,
  };
  const services: LocalServices = {
    async lambda(name, payload) {
      const fn = functions[name];
      if (!fn)
        throw new Error(`no local function ${name} (have: ${Object.keys(functions).sort().join(', ')})`);
      return fn(payload);
    },
    async glueJob(jobName, args) {
      const job = glueJobs[jobName];
      if (!job)
        throw new Error(`no local Glue job ${jobName} (have: ${Object.keys(glueJobs).sort().join(', ')})`);
      return job(args);
    },
    async codeBuild(_project, env) {
      const built = await deployment.builder.build({
        modelName: env.MODEL_NAME ?? DEFAULT_MODEL_NAME,
        modelVersion: env.MODEL_VERSION,
      });
      return { buildId: built.buildId, exported: { IMAGE_URI: built.artifact } };
    },
    async publish(_topic, subject, message) {
      return deployment.notifier.notify({ subject: subject ?? '(no subject)', message });
    },
  };

  const executionName = options.executionName ?? newExecutionName(stateMachine, root.clock.now());
  const store = new RunStore(root.home.runs);
  const input = options.resume ? (options.resume.input as Record<string, unknown>) : options.input;
  const failAt = options.failAt ?? [];
  // One start time for the run record and $$.Execution.StartTime: AwaitTurn compares this run's
  // start with the other records' (local/runs/running-trainings.ts).
  const startedAt = root.clock.now();
  const { record, onEvent } = store.start({
    executionId: executionName,
    stateMachine,
    input,
    startedAt,
    resumedFrom: options.resume?.executionId,
    failAt: [...failAt],
  });
  const result = await runLocally({
    definition: definitionFor(stateMachine),
    input,
    executionName,
    stateMachineName: stateMachine,
    services,
    waitScale: options.waitScale ?? DEFAULT_LOCAL_WAIT_SCALE,
    startTime: startedAt,
    failAt,
    reuse: options.resume ? reusableAnswers(options.resume, REUSABLE_STATES) : undefined,
    reusable: REUSABLE_STATES,
    onEvent: (event) => {
      onEvent(event);
      // The record says this state is running: the crash matrix kills here (lib/crash-point.ts).
      if (event.type === 'StateEntered') crashPoint(`pipeline:${event.name}`);
      options.onEvent?.(event, record);
    },
  });
  return { record, result };
}
