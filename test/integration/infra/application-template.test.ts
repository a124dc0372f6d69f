import { beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { ZIP_FUNCTIONS } from '../../../infra/bundle-functions.ts';
import {
  acceptedFindings,
  cfnLint,
  checkov,
  HIGH_SEVERITY_CHECKS,
  type Json,
  matchesGlob,
  packageApplication,
  parseCfnYaml,
  root,
  scanBin,
  type Template,
} from './template.ts';
import { actionMatches } from './iam-boundary.ts';
import { CANDIDATES_PREFIX, DEFAULT_RETENTION, PREDICTION_LOG_PREFIX } from '#lib/privacy/personal-data.ts';

// The offline proof of serverless.yml: `osls package --stage test` with fake credentials and every
// AWS endpoint pointed at a closed port, then assertions on the CloudFormation it wrote, cfn-lint
// and checkov. One package for the whole file (about 10 s on a shared 2-core machine).

const require = createRequire(import.meta.url);
const glueAssets = require(resolve(root, 'infra/glue-assets.cjs')) as {
  assets(): { scriptKey: string; sqlKey: string };
};

let template: Template;
let templateFile: string;
let stubs: string[];
let R: Template['Resources'];

beforeAll(() => {
  const packaged = packageApplication();
  template = packaged.template;
  templateFile = join(packaged.dir, 'cloudformation-template-update-stack.json');
  stubs = packaged.stubs;
  R = template.Resources;
  console.log(
    `[infra] osls package --stage test: ${packaged.seconds.toFixed(1)} s (bundles + package, child process)`,
  );
}, 240_000);

const ofType = (type: string) => Object.entries(R).filter(([, r]) => r.Type === type);
const refName = (v: Json): string | undefined => v?.Ref ?? v?.['Fn::GetAtt']?.[0];

/** Every statement of every inline policy and managed policy in the template, with its owner. */
function statements(): { owner: string; Action: string[]; Resource: Json[]; Effect: string }[] {
  const out: { owner: string; Action: string[]; Resource: Json[]; Effect: string }[] = [];
  const push = (owner: string, doc: Json) => {
    for (const s of [doc?.Statement ?? []].flat())
      out.push({ owner, Effect: s.Effect, Action: [s.Action].flat(), Resource: [s.Resource].flat() });
  };
  for (const [id, r] of Object.entries(R)) {
    if (r.Type === 'AWS::IAM::Role') for (const p of r.Properties?.Policies ?? []) push(id, p.PolicyDocument);
    if (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy')
      push(id, r.Properties?.PolicyDocument);
  }
  return out;
}

describe('osls package --stage test (offline)', () => {
  it('writes a CloudFormation template with the functions, state machines and stores', () => {
    for (const id of [
      'PredictLambdaFunction',
      'TrainingStateMachine',
      'BatchScoringStateMachine',
      'DatabaseCluster',
      'FeatureGlueJob',
    ])
      expect(R[id]).toBeDefined();
  });

  it('every zip-packaged function has its handler source (no stub shipped)', () => {
    // Stubs let the template be checked before every handler exists; a deploy refuses them (--strict).
    expect(stubs.map((d) => `functions/${d}/handler.ts`)).toEqual([]);
  });

  it('the functions in infra/bundle-functions.ts are exactly the zip functions of serverless.yml', () => {
    const zipFns = ofType('AWS::Lambda::Function')
      .filter(([, r]) => r.Properties.PackageType !== 'Image')
      .map(([id, r]) => ({ id, key: String(r.Properties.Code.S3Key).split('/').pop() }));
    expect(zipFns.map((f) => f.key).sort()).toEqual(ZIP_FUNCTIONS.map((f) => `${f.dir}.zip`).sort());
    for (const fn of ZIP_FUNCTIONS) {
      const id = `${fn.key[0].toUpperCase()}${fn.key.slice(1)}LambdaFunction`;
      expect(R[id]?.Properties.Architectures).toEqual([fn.architecture]);
    }
  });
});

describe('functions and IAM', () => {
  it('every function sets memory, timeout and architecture and runs on nodejs22.x or an image', () => {
    for (const [id, r] of ofType('AWS::Lambda::Function')) {
      const p = r.Properties;
      expect({
        id,
        memory: typeof p.MemorySize,
        timeout: typeof p.Timeout,
        arch: p.Architectures?.length,
      }).toEqual({
        id,
        memory: 'number',
        timeout: 'number',
        arch: 1,
      });
      if (p.PackageType !== 'Image') expect(p.Runtime).toBe('nodejs22.x');
    }
  });

  it('every function has its own role, used by no other function', () => {
    const roles = ofType('AWS::Lambda::Function').map(([id, r]) => ({
      id,
      role: refName(r.Properties.Role),
    }));
    expect(roles.length).toBeGreaterThanOrEqual(9);
    for (const { id, role } of roles) {
      expect(role).toBeDefined();
      expect({ id, type: R[role!]?.Type }).toEqual({ id, type: 'AWS::IAM::Role' });
    }
    expect(new Set(roles.map((r) => r.role)).size).toBe(roles.length);
    expect(R.IamRoleLambdaExecution).toBeUndefined(); // no shared execution role
  });

  it('no statement allows the action `*` or a service wildcard such as `s3:*`', () => {
    for (const s of statements().filter((s) => s.Effect === 'Allow'))
      for (const a of s.Action)
        expect({ owner: s.owner, action: a }).not.toEqual({
          owner: s.owner,
          action: expect.stringMatching(/(^\*$|:\*$)/),
        });
  });

  it('S3, RDS Data API, Secrets Manager, Glue and Step Functions calls name exact resources', () => {
    const dataPlane = /^(s3|rds-data|secretsmanager|glue|states):/;
    const checked = statements().filter(
      (s) => s.Effect === 'Allow' && s.Action.some((a) => dataPlane.test(a)),
    );
    expect(checked.length).toBeGreaterThan(15);
    for (const s of checked)
      for (const res of s.Resource) {
        expect({ owner: s.owner, resource: res }).not.toEqual({ owner: s.owner, resource: '*' });
        if (typeof res === 'string')
          expect(res).toMatch(/^arn:aws[a-z-]*:(s3|rds|secretsmanager|glue|states):/);
      }
  });

  it('every role carries the permissions boundary the delivery stack defines (permissionsBoundaryArn)', () => {
    const roles = ofType('AWS::IAM::Role');
    expect(roles.length).toBeGreaterThanOrEqual(17);
    for (const [id, r] of roles)
      expect({ id, boundary: r.Properties.PermissionsBoundary }).toEqual({
        id,
        boundary: 'arn:aws:iam::123456789012:policy/credit-risk-test-boundary',
      });
  });

  it('the boundary allows every action the roles use (or nothing would work once deployed)', () => {
    const delivery = parseCfnYaml(readFileSync(resolve(root, 'infra/delivery.yml'), 'utf8'));
    const ceiling: string[] =
      delivery.Resources.ApplicationRolesBoundary.Properties.PolicyDocument.Statement.flatMap((st: Json) =>
        [st.Action].flat(),
      );
    // The one AWS managed policy a role uses (API Gateway's account-wide log role), as AWS defines it.
    const managed: Record<string, string[]> = {
      AmazonAPIGatewayPushToCloudWatchLogs: [
        'logs:CreateLogGroup',
        'logs:CreateLogStream',
        'logs:DescribeLogGroups',
        'logs:DescribeLogStreams',
        'logs:PutLogEvents',
        'logs:GetLogEvents',
        'logs:FilterLogEvents',
      ],
    };
    const used = new Set(
      statements()
        .filter((st) => st.Effect === 'Allow')
        .flatMap((st) => st.Action),
    );
    for (const [id, r] of ofType('AWS::IAM::Role'))
      for (const arn of r.Properties.ManagedPolicyArns ?? []) {
        const name = JSON.stringify(arn).match(/policy\/(?:service-role\/)?([A-Za-z0-9]+)/)?.[1] ?? '';
        expect({ id, name, known: name in managed }).toEqual({ id, name, known: true });
        for (const a of managed[name]) used.add(a);
      }
    expect(used.size).toBeGreaterThan(40);
    for (const action of used)
      expect({ action, allowed: ceiling.some((c) => actionMatches(c, action)) }).toEqual({
        action,
        allowed: true,
      });
  });

  it('the canary may change only the predict function, and reads metrics with the one justified `*`', () => {
    const canary = statements().filter((s) => s.owner === 'CanaryRole');
    const lambda = canary.find((s) => s.Action.includes('lambda:UpdateAlias'))!;
    expect(lambda.Resource.map(refName).filter(Boolean)).toEqual(['PredictLambdaFunction']);
    expect(JSON.stringify(lambda.Resource)).toContain('${PredictLambdaFunction.Arn}:*');
    const star = canary.filter((s) => s.Resource.includes('*'));
    expect(
      star
        .map((s) => s.Action)
        .flat()
        .sort(),
    ).toEqual(['cloudwatch:GetMetricData', 'xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
  });
});

describe('storage', () => {
  it('every bucket blocks public access, is encrypted and denies non-TLS requests', () => {
    const buckets = ofType('AWS::S3::Bucket');
    expect(buckets.map(([id]) => id).sort()).toEqual([
      'FeaturesBucket',
      'ModelsBucket',
      'RawBucket',
      'ServerlessDeploymentBucket',
    ]);
    const policies = ofType('AWS::S3::BucketPolicy').map(([, r]) => r.Properties);
    for (const [id, r] of buckets) {
      expect({ id, block: r.Properties.PublicAccessBlockConfiguration }).toEqual({
        id,
        block: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
      });
      const sse =
        r.Properties.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault
          .SSEAlgorithm;
      expect(['AES256', 'aws:kms']).toContain(sse);
      const policy = policies.find((p) => refName(p.Bucket) === id);
      expect({ id, hasPolicy: policy !== undefined }).toEqual({ id, hasPolicy: true });
      const denyTls = [policy.PolicyDocument.Statement]
        .flat()
        .find(
          (s: Json) => s.Effect === 'Deny' && String(s.Condition?.Bool?.['aws:SecureTransport']) === 'false',
        );
      expect({ id, denyTls: Boolean(denyTls) }).toEqual({ id, denyTls: true });
      expect([denyTls.Action].flat()).toContain('s3:*');
      expect(JSON.stringify(denyTls.Resource)).toContain(id);
      expect(JSON.stringify(denyTls.Resource)).toContain('/*');
    }
  });

  it('models are versioned; raw and quarantine have lifecycle rules', () => {
    expect(R.ModelsBucket.Properties.VersioningConfiguration.Status).toBe('Enabled');
    expect(R.RawBucket.Properties.LifecycleConfiguration.Rules.length).toBeGreaterThan(0);
    const quarantine = R.FeaturesBucket.Properties.LifecycleConfiguration.Rules.find(
      (r: Json) => r.Prefix === 'quarantine/',
    );
    expect(quarantine.ExpirationInDays).toBeGreaterThan(0);
  });

  it('every store of personal data expires after its period (lib/privacy/personal-data.ts), old versions too', () => {
    const rules = (bucket: string) => R[bucket].Properties.LifecycleConfiguration.Rules as Json[];
    const expiry = (bucket: string, prefix: string | undefined) =>
      rules(bucket).find((r) => r.Prefix === prefix && r.ExpirationInDays !== undefined)?.ExpirationInDays;
    const d = DEFAULT_RETENTION;
    expect({
      raw: expiry('RawBucket', undefined),
      snapshots: expiry('FeaturesBucket', 'features/snapshot='),
      quarantine: expiry('FeaturesBucket', 'quarantine/'),
      staging: expiry('FeaturesBucket', 'staging/'),
      predictions: expiry('FeaturesBucket', 'predictions/'),
      predictionLog: expiry('FeaturesBucket', PREDICTION_LOG_PREFIX),
      monitoring: expiry('FeaturesBucket', 'monitoring/'),
      candidates: expiry('ModelsBucket', CANDIDATES_PREFIX),
    }).toEqual({
      raw: d.rawDays,
      snapshots: d.snapshotDays,
      quarantine: d.quarantineDays,
      staging: d.stagingDays,
      predictions: d.predictionsDays,
      predictionLog: d.predictionLogDays,
      monitoring: d.monitoringDays,
      candidates: d.candidatesDays,
    });
    for (const bucket of ['RawBucket', 'FeaturesBucket']) {
      const noncurrent = rules(bucket)
        .filter((r) => r.Prefix === undefined && r.NoncurrentVersionExpiration)
        .map((r) => r.NoncurrentVersionExpiration.NoncurrentDays);
      expect({ bucket, noncurrent }).toEqual({ bucket, noncurrent: [d.noncurrentVersionDays] });
      expect(rules(bucket).some((r) => r.ExpiredObjectDeleteMarker === true)).toBe(true);
    }
    // CURRENT, the audit log and the tombstones are not snapshots: no rule expires features/ as a whole.
    expect(rules('FeaturesBucket').filter((r) => r.Prefix === 'features/' && r.ExpirationInDays)).toEqual([]);
    // Function log groups keep logs for logRetentionDays.
    for (const [id, g] of ofType('AWS::Logs::LogGroup'))
      expect({ id, days: g.Properties.RetentionInDays }).toEqual({ id, days: d.logDays });
  });

  it('Aurora Serverless v2 PostgreSQL has the Data API on, a managed secret, encryption and private subnets only', () => {
    const c = R.DatabaseCluster.Properties;
    expect(c.Engine).toBe('aurora-postgresql');
    expect(c.EnableHttpEndpoint).toBe(true);
    expect(c.ManageMasterUserPassword).toBe(true);
    expect(c.StorageEncrypted).toBe(true);
    expect(c.ServerlessV2ScalingConfiguration.MaxCapacity).toBeGreaterThan(0);
    expect(R.DatabaseInstance.Properties.DBInstanceClass).toBe('db.serverless');
    expect(R.DatabaseInstance.Properties.PubliclyAccessible).toBe(false);
    for (const subnet of R.DatabaseSubnetGroup.Properties.SubnetIds.map(refName))
      expect(R[subnet].Properties.MapPublicIpOnLaunch).toBe(false);
    expect(ofType('AWS::EC2::InternetGateway')).toEqual([]);
    expect(ofType('AWS::EC2::NatGateway')).toEqual([]);
    expect(R.DatabaseSecurityGroup.Properties.SecurityGroupIngress).toBeUndefined();
  });
});

describe('serving', () => {
  it('the predict function is the ECR image, behind the `live` alias with a routing config', () => {
    expect(R.PredictLambdaFunction.Properties.PackageType).toBe('Image');
    expect(R.PredictLambdaFunction.Properties.Code.ImageUri).toMatch(
      /\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com\/.+@sha256:[0-9a-f]{64}$/,
    );
    const alias = R.PredictLiveAlias.Properties;
    expect(alias.Name).toBe('live');
    expect(alias.FunctionVersion).toEqual({ 'Fn::GetAtt': ['PredictLiveVersion', 'Version'] });
    expect(alias.RoutingConfig.AdditionalVersionWeights['Fn::If'][0]).toBe('HasPredictCanary');
    expect(R.PredictLiveVersion.Properties.Description).toContain(
      R.PredictLambdaFunction.Properties.Code.ImageUri,
    );
  });

  it('/predict requires an API key, is throttled per key and stage, and writes access logs', () => {
    const methods = ofType('AWS::ApiGateway::Method');
    expect(methods.length).toBeGreaterThan(0);
    for (const [, m] of methods)
      expect(m.Properties.ApiKeyRequired === true || m.Properties.AuthorizationType !== 'NONE').toBe(true);
    const post = R.PredictAnyMethod.Properties;
    expect(post.HttpMethod).toBe('ANY'); // the handler answers 405 for anything but POST
    expect(R[refName(post.ResourceId)!].Properties.PathPart).toBe('predict');
    expect(JSON.stringify(post.Integration.Uri)).toContain('${PredictLiveAlias}');
    const stage = R.ApiStage.Properties;
    expect(stage.AccessLogSetting.DestinationArn).toEqual({ 'Fn::GetAtt': ['ApiAccessLogGroup', 'Arn'] });
    expect(stage.MethodSettings[0].ThrottlingRateLimit).toBeGreaterThan(0);
    const plan = R.ApiUsagePlan.Properties;
    expect(plan.Throttle.RateLimit).toBeGreaterThan(0);
    expect(refName(plan.ApiStages[0].ApiId)).toBe('ApiGatewayRestApi');
    expect(refName(R.ApiUsagePlanKeyDefault.Properties.UsagePlanId)).toBe('ApiUsagePlan');
    expect(refName(R.PredictInvokeFromApiPermission.Properties.FunctionName)).toBe('PredictLiveAlias');
  });
});

describe('EventBridge', () => {
  const rules = () => ofType('AWS::Events::Rule').map(([id, r]) => ({ id, ...r.Properties }));

  it('warms the predict alias every 5 minutes with the payload the handler recognises', () => {
    const warmer = JSON.parse(readFileSync(resolve(root, 'events/warmer.json'), 'utf8'));
    const rule = rules().find((r) => r.id === 'PredictWarmupRule')!;
    expect(rule.ScheduleExpression).toBe('rate(5 minutes)');
    expect(refName(rule.Targets[0].Arn)).toBe('PredictLiveAlias');
    expect(JSON.parse(rule.Targets[0].Input)).toEqual(warmer);
    const permission = ofType('AWS::Lambda::Permission').find(
      ([, p]) => refName(p.Properties.SourceArn) === rule.id,
    );
    expect(refName(permission![1].Properties.FunctionName)).toBe('PredictLiveAlias');
  });

  it('asks the canary function every 5 minutes to end a canary past its deadline, and lets only that rule invoke it', () => {
    const expire = JSON.parse(readFileSync(resolve(root, 'events/canary-expire.json'), 'utf8'));
    const rule = rules().find((r) => r.id === 'CanaryExpiryRule')!;
    expect(rule).toMatchObject({ ScheduleExpression: 'rate(5 minutes)', State: 'ENABLED' });
    expect(rule.Targets).toHaveLength(1);
    expect(refName(rule.Targets[0].Arn)).toBe('CanaryLambdaFunction');
    expect(JSON.parse(rule.Targets[0].Input)).toEqual(expire);
    const permissions = ofType('AWS::Lambda::Permission').filter(
      ([, p]) => refName(p.Properties.FunctionName) === 'CanaryLambdaFunction',
    );
    expect(permissions.map(([, p]) => p.Properties)).toEqual([
      {
        Action: 'lambda:InvokeFunction',
        FunctionName: expect.anything(),
        Principal: 'events.amazonaws.com',
        SourceArn: { 'Fn::GetAtt': ['CanaryExpiryRule', 'Arn'] },
      },
    ]);
    // What the expiry does needs nothing the canary role did not have: the alias, the version
    // descriptions (which model a version serves) and the registry under models/.
    const canary = statements().filter((s) => s.owner === 'CanaryRole');
    const actions = canary.flatMap((s) => s.Action);
    for (const a of [
      'lambda:GetAlias',
      'lambda:UpdateAlias',
      'lambda:GetFunctionConfiguration',
      'lambda:ListVersionsByFunction',
    ])
      expect(actions).toContain(a);
    const registry = canary.find((s) => s.Action.includes('s3:PutObject'))!;
    expect(JSON.stringify(registry.Resource)).toContain('/models/*');
  });

  it('starts the training state machine on a schedule', () => {
    const rule = rules().find((r) => r.id === 'TrainingScheduleRule')!;
    expect(rule.ScheduleExpression).toMatch(/^(rate|cron)\(/);
    expect(refName(rule.Targets[0].Arn)).toBe('TrainingStateMachine');
    const role = refName(rule.Targets[0].RoleArn)!;
    const allowed = R[role].Properties.Policies.flatMap((p: Json) => p.PolicyDocument.Statement);
    expect(
      allowed.some(
        (s: Json) =>
          [s.Action].flat().includes('states:StartExecution') &&
          JSON.stringify(s.Resource).includes('TrainingStateMachine'),
      ),
    ).toBe(true);
  });

  it('new objects in the raw bucket go to start-pipeline, which may start only the training state machine', () => {
    const rule = rules().find((r) => r.EventPattern?.source?.includes('aws.s3'))!;
    expect(rule.EventPattern['detail-type']).toEqual(['Object Created']);
    expect(refName(rule.EventPattern.detail.bucket.name[0])).toBe('RawBucket');
    expect(refName(rule.Targets[0].Arn)).toBe('StartPipelineLambdaFunction');
    expect(R.RawBucket.Properties.NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled).toBe(
      true,
    );
    const start = statements().filter(
      (s) => s.owner === 'StartPipelineRole' && s.Action.includes('states:StartExecution'),
    );
    expect(start.flatMap((s) => s.Resource.map(refName))).toEqual(['TrainingStateMachine']);
  });

  it("the training machine's AwaitTurn (training-turn function) may list the training executions, spelled by name (no cycle)", () => {
    const list = statements().filter(
      (s) => s.Action.includes('states:ListExecutions') && s.owner !== 'DriftCheckRole',
    );
    expect(new Set(list.map((s) => s.owner))).toEqual(new Set(['TrainingTurnRole']));
    expect(list.flatMap((s) => s.Action)).toEqual(['states:ListExecutions']);
    const name = R.TrainingStateMachine.Properties.StateMachineName as string;
    expect(name).toMatch(/-training$/);
    expect(list.flatMap((s) => s.Resource)).toEqual([
      { 'Fn::Sub': `arn:\${AWS::Partition}:states:\${AWS::Region}:\${AWS::AccountId}:stateMachine:${name}` },
    ]);
    // The machine invokes the function it authorises: a !Ref back to the machine would be a cycle.
    expect(refName(R.TrainingStateMachine.Properties.DefinitionSubstitutions.TrainingTurnFunctionArn)).toBe(
      'TrainingTurnLambdaFunction',
    );
  });

  it("the extract function's publish guards read only the champion's aliases, audit and cards of the registry", () => {
    const models = statements().filter(
      (s) => s.owner === 'ExtractFeaturesRole' && JSON.stringify(s.Resource).includes('ModelsBucket'),
    );
    const reads = models.filter((s) => s.Action.includes('s3:GetObject'));
    expect(reads.flatMap((s) => s.Action)).toEqual(['s3:GetObject']);
    expect(reads.flatMap((s) => s.Resource)).toEqual([
      { 'Fn::Sub': '${ModelsBucket.Arn}/models/credit-risk/aliases.json' },
      { 'Fn::Sub': '${ModelsBucket.Arn}/models/credit-risk/audit/*' },
      { 'Fn::Sub': '${ModelsBucket.Arn}/models/credit-risk/*/card.json' },
    ]);
    // Nothing written to the registry, and the only other grant is the listing (404 for a missing key).
    expect(models.flatMap((s) => s.Action).sort()).toEqual(['s3:GetObject', 's3:ListBucket']);
    const env = R.ExtractFeaturesLambdaFunction.Properties.Environment.Variables;
    expect(refName(env.MODELS_BUCKET)).toBe('ModelsBucket');
    expect(env).toMatchObject({
      MODEL_NAME: 'credit-risk',
      PUBLISH_MIN_CUSTOMER_SHARE: '0.5',
      PUBLISH_MAX_QUARANTINE_RATE: '0.2',
    });
  });
});

describe('state machines', () => {
  for (const id of ['TrainingStateMachine', 'BatchScoringStateMachine']) {
    it(`${id}: every \${Placeholder} is substituted with a resource of this template; logging and tracing on`, () => {
      const p = R[id].Properties;
      expect(typeof p.DefinitionString).toBe('string');
      const placeholders = [
        ...new Set([...p.DefinitionString.matchAll(/\$\{([A-Za-z0-9_]+)\}/g)].map((m) => m[1])),
      ];
      expect(placeholders.length).toBeGreaterThan(0);
      for (const name of placeholders) {
        const value = p.DefinitionSubstitutions?.[name];
        expect({ name, defined: value !== undefined }).toEqual({ name, defined: true });
        const target = refName(value);
        if (target)
          expect({ name, target, exists: R[target] !== undefined }).toEqual({ name, target, exists: true });
      }
      expect(p.LoggingConfiguration.Level).toBe('ALL');
      expect(refName(p.LoggingConfiguration.Destinations[0].CloudWatchLogsLogGroup.LogGroupArn)).toBe(
        `${id}LogGroup`,
      );
      expect(p.TracingConfiguration.Enabled).toBe(true);
    });
  }

  it('the deployed definitions are the ASL files as written (what the local runner executes)', () => {
    for (const [id, file] of [
      ['TrainingStateMachine', 'training.asl.json'],
      ['BatchScoringStateMachine', 'batch-scoring.asl.json'],
    ])
      expect(JSON.parse(R[id].Properties.DefinitionString)).toEqual(
        JSON.parse(readFileSync(resolve(root, 'state-machines', file), 'utf8')),
      );
  });
});

describe('Glue', () => {
  it('the job runs the content-addressed script and feature SQL that infra/deploy.ts uploads', () => {
    const { scriptKey, sqlKey } = glueAssets.assets();
    const job = R.FeatureGlueJob.Properties;
    expect(job.Command.Name).toBe('glueetl');
    expect(job.Command.ScriptLocation).toBe(`s3://credit-risk-test-artifacts-123456789012/${scriptKey}`);
    // Underscore names: Glue's getResolvedOptions looks them up exactly as the script asks (sql_path).
    expect(job.DefaultArguments['--sql_path']).toBe(`s3://credit-risk-test-artifacts-123456789012/${sqlKey}`);
    expect(
      Object.keys(job.DefaultArguments).filter(
        (k) => k.startsWith('--') && !k.startsWith('--enable-') && k !== '--job-language',
      ),
    ).toEqual(['--sql_path']);
    expect(['4.0', '5.0']).toContain(job.GlueVersion);
    expect(job.WorkerType).toMatch(/^G\./);
    expect(job.NumberOfWorkers).toBeGreaterThan(0);
  });
});

describe('the Glue branch of the training machine', () => {
  const s3Resources = (owner: string) =>
    statements()
      .filter(
        (s) =>
          s.owner === owner &&
          s.Effect === 'Allow' &&
          s.Action.some((a) => a.startsWith('s3:') && a !== 's3:ListBucket'),
      )
      .flatMap((s) => s.Resource.map((r) => JSON.stringify(r)));

  it('the job reads and writes only the staging/ prefix of the features bucket, and lists only under it', () => {
    const job = s3Resources('FeatureGlueJobRole').filter((r) => !r.includes('artifacts'));
    expect(job).toEqual([JSON.stringify({ 'Fn::Sub': '${FeaturesBucket.Arn}/staging/*' })]);
    const list = R.FeatureGlueJobRole.Properties.Policies[0].PolicyDocument.Statement.find((st: Json) =>
      st.Action.includes('s3:ListBucket'),
    );
    expect(refName(list.Resource)).toBe('FeaturesBucket');
    expect(list.Condition).toEqual({ StringLike: { 's3:prefix': ['staging/*'] } });
    expect(JSON.stringify(R.FeatureGlueJobRole)).not.toContain('RawBucket');
  });

  it('the extract function may stage the job input and read the job output under staging/', () => {
    expect(s3Resources('ExtractFeaturesRole')).toContain(
      JSON.stringify({ 'Fn::Sub': '${FeaturesBucket.Arn}/staging/*' }),
    );
  });

  it('staging objects expire', () => {
    const rule = R.FeaturesBucket.Properties.LifecycleConfiguration.Rules.find(
      (r: Json) => r.Prefix === 'staging/',
    );
    expect(rule).toMatchObject({ Status: 'Enabled', ExpirationInDays: 7 });
  });
});

describe('observability', () => {
  it('alarms on API 5xx, p99 latency, alias-level errors and drift notify the SNS topic; a dashboard exists', () => {
    const alarms = ofType('AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
    const by = (metric: string) =>
      alarms.find(
        (a) =>
          a.MetricName === metric || JSON.stringify(a.Metrics ?? []).includes(`"MetricName":"${metric}"`),
      );
    expect(by('5XXError')).toBeDefined();
    expect(by('Latency')!.ExtendedStatistic).toBe('p99');
    expect(JSON.stringify(by('Errors')!.Metrics)).toContain('-predict:live');
    expect(by('featurePsiMax')).toBeDefined();
    for (const a of alarms) expect(refName(a.AlarmActions[0])).toBe('NotificationTopic');
    expect(ofType('AWS::CloudWatch::Dashboard')).toHaveLength(1);
  });

  it('the packaged alarm thresholds are lib/monitoring/alarm-thresholds.ts, through the serverless params', async () => {
    const t = await import('#lib/monitoring/alarm-thresholds.ts');
    const threshold = (id: string) => template.Resources[id].Properties.Threshold;
    expect(threshold('ApiLatencyP99Alarm')).toBe(t.P99_LATENCY_MS_MAX);
    expect(threshold('Api5xxAlarm')).toBe(t.API_5XX_PER_MINUTE_MAX);
    expect(threshold('PredictCanaryErrorsAlarm')).toBe(t.PREDICT_5XX_RATE_MAX);
    expect(threshold('PredictNonFiniteAlarm')).toBe(t.NON_FINITE_PROBABILITIES_MAX);
    expect(threshold('DriftAlarm')).toBe(t.DRIFT_PSI_MAX);
    expect(threshold('ChampionAgeAlarm')).toBe(t.CHAMPION_AGE_DAYS_MAX);
    expect(threshold('QuarantineRateAlarm')).toBe(t.QUARANTINE_RATE_MAX);
    expect(threshold('RealizedAucGapAlarm')).toBe(t.REALIZED_AUC_GAP_MAX);
    for (const id of [
      'TrainingFailedAlarm',
      'BatchScoringFailedAlarm',
      'DriftCheckErrorsAlarm',
      'StartPipelineErrorsAlarm',
    ])
      expect(threshold(id)).toBe(t.FAILURES_MAX);
    expect(template.Resources.DriftAlarm.Properties).toMatchObject({
      Period: t.DAILY_PERIOD_SECONDS,
      TreatMissingData: 'breaching',
    });
    // The drift check retrains at the alarm's threshold.
    const env = template.Resources.DriftCheckLambdaFunction.Properties.Environment.Variables;
    expect(Number(env.DRIFT_PSI_THRESHOLD)).toBe(t.DRIFT_PSI_MAX);
  });
});

describe('scanners (.venv-scan)', () => {
  const bin = scanBin();
  if (!bin) {
    if (process.env.CI === 'true') it('has checkov and cfn-lint', () => expect(bin).toBeDefined());
    else
      it.skip('cfn-lint and checkov: SKIPPED, no .venv-scan (node scripts/python-env.mjs --scan)', () =>
        undefined);
    return;
  }

  it('cfn-lint reports no error', () => {
    const errors = cfnLint(bin, templateFile).filter(
      (f) => !f.rule.startsWith('W') && !f.rule.startsWith('I'),
    );
    expect(errors).toEqual([]);
  });

  it('checkov: no HIGH check fails, and the failed checks are exactly the accepted findings of docs/SECURITY.md', () => {
    const { failed, passed } = checkov(bin, templateFile);
    mkdirSync(resolve(root, '.test-results'), { recursive: true });
    writeFileSync(resolve(root, '.test-results/checkov-application.json'), JSON.stringify(failed, null, 2));
    expect(passed).toBeGreaterThan(100);
    expect(failed.filter((f) => HIGH_SEVERITY_CHECKS.has(f.checkId))).toEqual([]);
    const accepted = acceptedFindings().filter((a) => a.template === 'serverless.yml');
    const unaccepted = failed.filter(
      (f) => !accepted.some((a) => a.checkId === f.checkId && matchesGlob(f.resource, a.resources)),
    );
    expect(unaccepted).toEqual([]);
    const stale = accepted.filter(
      (a) => !failed.some((f) => f.checkId === a.checkId && matchesGlob(f.resource, a.resources)),
    );
    expect(stale).toEqual([]);
  });
});
