/**
 * `npm run deploy -- --stage <stage> [options]`: one command per stage, from a laptop or from
 * CodeBuild (buildspec.yml). Needs the AWS CLI v2, Docker and credentials for the target account
 * (AWS_PROFILE or --profile, AWS_REGION or --region). `--teardown --yes` removes a stage
 * (infra/teardown.ts). `--help` prints DEPLOY_HELP.
 *
 *   1. delivery stack (infra/delivery.yml): ECR repository, artifacts bucket, CodePipeline
 *   2. uploads: the Glue script + feature SQL (content-addressed keys) and the source bundle the
 *      image-build project rebuilds from
 *   3. the predict image with the registered champion baked in (or --model-dir for the very first
 *      deploy, e.g. the champion `npm start` trained locally), pushed to ECR, pinned by digest
 *   4. `npm run package:aws -- --strict` (no stub handlers) and `osls deploy --package`
 *
 * --phase build stops after 4's package (CI's build phase); --phase deploy runs only the deploy of
 * what build packaged (CI's post_build). --dry-run prints every command instead of running it.
 * docs/DEPLOY.md explains the parameters.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { runTeardown, teardownPlan, teardownTargets } from './teardown.ts';
import { zipDirectory } from './zip.ts';

const root = resolve(import.meta.dirname, '..');
const require = createRequire(import.meta.url);
const glueAssets = require('./glue-assets.cjs') as { assets(): { uploads: { file: string; key: string }[] } };

export interface DeployOptions {
  stage: string;
  region: string;
  /** The AWS CLI / SDK profile every command runs with (AWS_PROFILE), or undefined: the default chain. */
  profile?: string;
  phase: 'all' | 'build' | 'deploy';
  repo?: string;
  branch: string;
  connectionArn?: string;
  alarmEmail?: string;
  modelDir?: string;
  modelName: string;
  skipDelivery: boolean;
  dryRun: boolean;
  teardown: boolean;
  yes: boolean;
  keepDbSnapshot: boolean;
}

export const DEPLOY_HELP = `Usage: npm run deploy -- --stage <stage> [options]
       npm run deploy -- --stage <stage> --teardown [--yes] [--keep-db-snapshot]

Deploys one stage of credit-risk to AWS (docs/DEPLOY.md): the delivery stack
credit-risk-<stage>-delivery (infra/delivery.yml: ECR, artifacts bucket, CodePipeline, the
permissions boundary of the application's roles), the Glue assets and source bundle, the predict
image with a model baked in, then the application stack credit-risk-<stage> (serverless.yml).

Credentials and region: the AWS CLI's own chain. Set AWS_PROFILE (or --profile) and AWS_REGION
(or --region; default eu-west-1). Every aws, docker and osls command runs with them.

Options:
  --stage <stage>          required (or $STAGE): lowercase letters, digits, dashes (dev, prod)
  --region <region>        AWS region (default: $AWS_REGION, $AWS_DEFAULT_REGION, eu-west-1)
  --profile <name>         AWS profile for every command (default: $AWS_PROFILE)
  --model-dir <dir>        the model to bake into the first image: a registered version directory
                           with model.onnx and card.json, e.g. after \`npm start\`:
                           .credit-risk/store/models/credit-risk/<version>
                           (default: the stage's registered champion, read from its models bucket)
  --model-name <name>      registered model name (default: credit-risk)
  --repo <owner/name>      Git repository the pipeline builds (delivery stack FullRepositoryId)
  --branch <branch>        branch that deploys on every commit (default: main)
  --connection-arn <arn>   an existing CodeConnections connection (default: create one)
  --alarm-email <address>  SNS e-mail subscription for alarms and pipeline outcomes
  --phase all|build|deploy all (default); build: up to the package (CI's build phase);
                           deploy: only the deploy of what build packaged (CI's post_build)
  --skip-delivery          do not deploy the delivery stack (always skipped inside CodeBuild)
  --dry-run                print every command instead of running it
  --teardown               remove the stage: both stacks, every bucket emptied (object versions
                           and delete markers too) and deleted, Aurora's final snapshot, the ECR
                           repository and its images. Prints the plan; deletes only with --yes
  --yes                    confirm --teardown
  --keep-db-snapshot       with --teardown: keep Aurora's final snapshot (it holds personal data)
  -h, --help               this text

Examples:
  AWS_PROFILE=dev AWS_REGION=eu-west-1 npm run deploy -- --stage dev \\
      --model-dir .credit-risk/store/models/credit-risk/<version> --repo my-org/credit-risk
  npm run deploy -- --stage dev --dry-run
  npm run deploy -- --stage dev --teardown            # the plan only
  npm run deploy -- --stage dev --teardown --yes      # delete everything of the stage
`;

/** --help or -h anywhere on the command line. */
export function wantsHelp(argv: readonly string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

/** What the build context of the predict image contains (Dockerfile's COPY lines). */
export const SOURCE_BUNDLE_PATHS = [
  'Dockerfile',
  'package.json',
  'package-lock.json',
  '.npmrc',
  'tsconfig.json',
  'bin',
  'lib',
  'functions',
  'scripts',
  'layers',
  'infra',
];

export function parseDeployArgs(argv: string[]): DeployOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      stage: { type: 'string' },
      region: { type: 'string' },
      phase: { type: 'string', default: 'all' },
      repo: { type: 'string' },
      branch: { type: 'string', default: 'main' },
      'connection-arn': { type: 'string' },
      'alarm-email': { type: 'string' },
      'model-dir': { type: 'string' },
      'model-name': { type: 'string', default: 'credit-risk' },
      'skip-delivery': { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
      profile: { type: 'string' },
      teardown: { type: 'boolean', default: false },
      yes: { type: 'boolean', default: false },
      'keep-db-snapshot': { type: 'boolean', default: false },
    },
  });
  const stage = values.stage ?? process.env.STAGE;
  if (!stage || !/^[a-z][a-z0-9-]{1,15}$/.test(stage))
    throw new Error('--stage is required: lowercase letters, digits, dashes (e.g. dev, prod)');
  if (!['all', 'build', 'deploy'].includes(values.phase!))
    throw new Error(`--phase must be all, build or deploy (got ${values.phase})`);
  return {
    stage,
    region: values.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'eu-west-1',
    profile: values.profile ?? (process.env.AWS_PROFILE || undefined),
    phase: values.phase as DeployOptions['phase'],
    repo: values.repo,
    branch: values.branch!,
    connectionArn: values['connection-arn'],
    alarmEmail: values['alarm-email'],
    modelDir: values['model-dir'],
    modelName: values['model-name']!,
    // In CodeBuild the delivery stack already exists and deploys us; the CI role may not update it.
    skipDelivery: values['skip-delivery']! || process.env.CODEBUILD_BUILD_ID !== undefined,
    dryRun: values['dry-run']!,
    teardown: values.teardown!,
    yes: values.yes!,
    keepDbSnapshot: values['keep-db-snapshot']!,
  };
}

/** The osls parameters that come from the delivery stack and the pushed image. */
export function oslsParams(p: {
  artifactsBucket: string;
  repositoryName: string;
  imageUri: string;
  accountId: string;
  /** The delivery stack's ApplicationRolesBoundaryArn: every application role carries it. */
  permissionsBoundaryArn: string;
  alarmEmail?: string;
}): string[] {
  const params = [
    `predictImageUri=${p.imageUri}`,
    `artifactsBucket=${p.artifactsBucket}`,
    `predictRepositoryName=${p.repositoryName}`,
    `permissionsBoundaryArn=${p.permissionsBoundaryArn}`,
  ];
  if (p.alarmEmail) params.push(`alarmEmail=${p.alarmEmail}`);
  return params.flatMap((kv) => ['--param', kv]);
}

class Runner {
  constructor(private readonly options: DeployOptions) {}

  get dryRun(): boolean {
    return this.options.dryRun;
  }

  run(cmd: string, args: string[], { capture = false, allowFail = false } = {}): string {
    const shown = [cmd, ...args].map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ');
    console.error(`$ ${shown}`);
    if (this.options.dryRun) return '';
    const r = spawnSync(cmd, args, {
      cwd: root,
      encoding: 'utf8',
      stdio: capture ? ['inherit', 'pipe', 'inherit'] : 'inherit',
      // The profile reaches every child: aws, docker's credential helper, osls (the SDK's chain).
      env: this.options.profile ? { ...process.env, AWS_PROFILE: this.options.profile } : process.env,
    });
    if (r.status !== 0 && !allowFail) throw new Error(`${cmd} exited ${r.status}`);
    return r.status === 0 ? (r.stdout ?? '').trim() : '';
  }

  aws(args: string[], opts?: { capture?: boolean; allowFail?: boolean }): string {
    return this.run('aws', [...args, '--region', this.options.region], opts);
  }
}

function stackOutputs(runner: Runner, stackName: string): Record<string, string> {
  const out = runner.aws(
    [
      'cloudformation',
      'describe-stacks',
      '--stack-name',
      stackName,
      '--query',
      'Stacks[0].Outputs',
      '--output',
      'json',
    ],
    {
      capture: true,
      allowFail: true,
    },
  );
  if (!out) return {};
  return Object.fromEntries(
    (JSON.parse(out) as { OutputKey: string; OutputValue: string }[]).map((o) => [
      o.OutputKey,
      o.OutputValue,
    ]),
  );
}

function sourceBundle(): { file: string; sha: string } {
  const dir = join(root, 'dist/source');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const p of SOURCE_BUNDLE_PATHS)
    if (existsSync(join(root, p))) cpSync(join(root, p), join(dir, p), { recursive: true });
  const file = join(root, 'dist/app.zip');
  const { sha256 } = zipDirectory(dir, file);
  return { file, sha: sha256 };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (wantsHelp(argv)) {
    process.stdout.write(DEPLOY_HELP);
    return;
  }
  const o = parseDeployArgs(argv);
  const runner = new Runner(o);
  const appStack = `credit-risk-${o.stage}`;
  const deliveryStack = `${appStack}-delivery`;
  const paramsFile = join(root, '.serverless', 'deploy-params.json');
  console.error(
    `stage ${o.stage}, region ${o.region}, profile ${o.profile ?? '(default credentials chain)'}`,
  );

  if (o.teardown) {
    const dbCluster = runner.aws(
      [
        'cloudformation',
        'describe-stack-resource',
        '--stack-name',
        appStack,
        '--logical-resource-id',
        'DatabaseCluster',
        '--query',
        'StackResourceDetail.PhysicalResourceId',
        '--output',
        'text',
      ],
      { capture: true, allowFail: true },
    );
    const targets = teardownTargets(
      o.stage,
      stackOutputs(runner, appStack),
      stackOutputs(runner, deliveryStack),
      dbCluster,
    );
    console.error(`teardown of stage ${o.stage}:`);
    for (const line of teardownPlan(targets, o.keepDbSnapshot)) console.error(`  - ${line}`);
    if (!o.yes && !o.dryRun) {
      console.error(
        'nothing deleted: add --yes to delete all of the above (objects, versions, images: no undo)',
      );
      process.exitCode = 2;
      return;
    }
    runTeardown(runner, targets, { keepDbSnapshot: o.keepDbSnapshot });
    console.error(o.dryRun ? '(dry run: nothing was run)' : `stage ${o.stage} removed`);
    return;
  }

  if (o.phase !== 'deploy') {
    if (!o.skipDelivery) {
      const overrides = [`Stage=${o.stage}`, `BranchName=${o.branch}`];
      if (o.repo) overrides.push(`FullRepositoryId=${o.repo}`);
      if (o.connectionArn) overrides.push(`ConnectionArn=${o.connectionArn}`);
      if (o.alarmEmail) overrides.push(`AlarmEmail=${o.alarmEmail}`);
      runner.aws([
        'cloudformation',
        'deploy',
        '--stack-name',
        deliveryStack,
        '--template-file',
        'infra/delivery.yml',
        '--capabilities',
        'CAPABILITY_IAM',
        '--no-fail-on-empty-changeset',
        '--parameter-overrides',
        ...overrides,
      ]);
    }
    const delivery = stackOutputs(runner, deliveryStack);
    const accountId =
      runner.aws(['sts', 'get-caller-identity', '--query', 'Account', '--output', 'text'], {
        capture: true,
      }) || '123456789012';
    const bucket = delivery.ArtifactsBucketName ?? `credit-risk-${o.stage}-artifacts-${accountId}`;
    const repositoryName = delivery.PredictRepositoryName ?? `credit-risk-${o.stage}-predict`;
    const repositoryUri =
      delivery.PredictRepositoryUri ?? `${accountId}.dkr.ecr.${o.region}.amazonaws.com/${repositoryName}`;

    // Glue script + SQL: content-addressed keys, so an existing key already holds these bytes.
    for (const { file, key } of glueAssets.assets().uploads) {
      const exists = runner.aws(['s3api', 'head-object', '--bucket', bucket, '--key', key], {
        capture: true,
        allowFail: true,
      });
      if (!exists) runner.aws(['s3', 'cp', file, `s3://${bucket}/${key}`]);
    }
    const source = sourceBundle();
    runner.aws(['s3', 'cp', source.file, `s3://${bucket}/source/app.zip`]);

    // The model to bake in: --model-dir, else the stage's registered champion.
    const modelDir = join(root, 'model');
    rmSync(modelDir, { recursive: true, force: true });
    let modelVersion: string;
    if (o.modelDir) {
      cpSync(resolve(o.modelDir), modelDir, { recursive: true });
      modelVersion = createHash('sha256')
        .update(readFileSync(join(modelDir, 'model.onnx')))
        .digest('hex');
    } else {
      const modelsBucket = stackOutputs(runner, appStack).ModelsBucketName;
      const aliasesKey = `models/${o.modelName}/aliases.json`;
      const aliases = modelsBucket
        ? runner.aws(['s3', 'cp', `s3://${modelsBucket}/${aliasesKey}`, '-'], {
            capture: true,
            allowFail: true,
          })
        : '';
      const champion = aliases ? (JSON.parse(aliases) as { champion?: string }).champion : undefined;
      if (!champion && !o.dryRun)
        throw new Error(
          `no champion in ${modelsBucket ? `s3://${modelsBucket}/${aliasesKey}` : `the ${appStack} stack (not deployed yet)`}: ` +
            'pass --model-dir DIR for the first deploy: a registered version directory with model.onnx and card.json, ' +
            'e.g. .credit-risk/store/models/credit-risk/<version> after `npm start` (credit-risk models list)',
        );
      modelVersion = champion ?? 'dry-run';
      runner.aws([
        's3',
        'cp',
        '--recursive',
        `s3://${modelsBucket}/models/${o.modelName}/${modelVersion}/`,
        'model/',
        '--exclude',
        'report.html',
      ]);
    }
    const tag = `${modelVersion.slice(0, 12)}-${source.sha.slice(0, 12)}`;
    const image = `${repositoryUri}:${tag}`;
    const registry = repositoryUri.split('/')[0];
    const login = runner.aws(['ecr', 'get-login-password'], { capture: true });
    if (!o.dryRun) {
      const r = spawnSync('docker', ['login', '--username', 'AWS', '--password-stdin', registry], {
        input: login,
        stdio: ['pipe', 'inherit', 'inherit'],
      });
      if (r.status !== 0) throw new Error('docker login failed');
    } else console.error(`$ docker login --username AWS --password-stdin ${registry}`);
    runner.run('docker', ['build', '--platform', 'linux/amd64', '-t', image, '.']);
    runner.run('docker', ['push', image]);
    const digest =
      runner.run('docker', ['inspect', '--format', '{{index .RepoDigests 0}}', image], { capture: true }) ||
      `${repositoryUri}@sha256:${'0'.repeat(64)}`;
    const params = oslsParams({
      artifactsBucket: bucket,
      repositoryName,
      imageUri: digest,
      accountId,
      permissionsBoundaryArn:
        delivery.ApplicationRolesBoundaryArn ??
        `arn:aws:iam::${accountId}:policy/credit-risk-${o.stage}-boundary`,
      alarmEmail: o.alarmEmail,
    });
    mkdirSync(join(root, '.serverless'), { recursive: true });
    runner.run(process.execPath, [
      join(root, 'bin/run-ts.mjs'),
      'infra/package.ts',
      '--strict',
      '--stage',
      o.stage,
      '--region',
      o.region,
      ...params,
    ]);
    if (!o.dryRun) writeFileSync(paramsFile, JSON.stringify(params));
  }

  if (o.phase !== 'build') {
    const params =
      o.dryRun && !existsSync(paramsFile) ? [] : (JSON.parse(readFileSync(paramsFile, 'utf8')) as string[]);
    runner.run(process.execPath, [
      join(root, 'node_modules/osls/bin/serverless.js'),
      'deploy',
      '--stage',
      o.stage,
      '--region',
      o.region,
      '--package',
      '.serverless',
      ...params,
    ]);
    runner.aws([
      'cloudformation',
      'describe-stacks',
      '--stack-name',
      appStack,
      '--query',
      'Stacks[0].Outputs',
      '--output',
      'table',
    ]);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  main().catch((e: Error) => {
    console.error(`error [DEPLOY_FAILED]: ${e.message}`);
    process.exit(1);
  });
}
