/**
 * `npm run deploy -- --stage <stage> --teardown --yes`: removes a stage completely, the reverse
 * of infra/deploy.ts (docs/DEPLOY.md, "Tearing a stage down"). What CloudFormation alone leaves
 * behind is what holds data, by design (DeletionPolicy Retain on the raw and models buckets and the
 * ECR repository, a final snapshot of Aurora, versioned buckets it cannot delete while they hold
 * objects), so the order is:
 *
 *   1. the application stack's buckets emptied, every object version and delete marker included
 *      (a versioned bucket is not empty while one remains; the stack delete would fail);
 *   2. Aurora's deletion protection turned off (prod sets it), then the application stack
 *      deleted and waited for;
 *   3. the retained buckets (raw, models) emptied again (a run may have written meanwhile) and
 *      deleted; Aurora's final snapshot deleted (unless --keep-db-snapshot: it holds the online
 *      store's rows, personal data);
 *   4. the delivery stack's artifacts bucket emptied, the delivery stack deleted and waited for,
 *      then the retained ECR repository deleted with every image (`--force`).
 *
 * Without --yes nothing is deleted: the plan is printed and the command exits 2.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What the teardown needs from the deploy runner: run the AWS CLI, print what it does. */
export interface AwsCli {
  aws(args: string[], opts?: { capture?: boolean; allowFail?: boolean }): string;
  readonly dryRun: boolean;
}

export interface TeardownTargets {
  appStack: string;
  deliveryStack: string;
  /** Every bucket of the application stack (outputs), the deployment bucket included. */
  appBuckets: string[];
  /** Of those, the ones the stack keeps (DeletionPolicy Retain): deleted by the teardown itself. */
  retainedBuckets: string[];
  artifactsBucket?: string;
  repositoryName?: string;
  /** Aurora's cluster identifier (the stack's DatabaseCluster), when the stack has one. */
  dbCluster?: string;
}

/** The stack outputs and resources the teardown reads, as names (empty values are skipped). */
export function teardownTargets(
  stage: string,
  app: Record<string, string>,
  delivery: Record<string, string>,
  dbCluster?: string,
): TeardownTargets {
  const appStack = `credit-risk-${stage}`;
  const defined = (xs: Array<string | undefined>) => xs.filter((x): x is string => Boolean(x));
  return {
    appStack,
    deliveryStack: `${appStack}-delivery`,
    appBuckets: defined([
      app.RawBucketName,
      app.FeaturesBucketName,
      app.ModelsBucketName,
      app.ServerlessDeploymentBucketName,
    ]),
    retainedBuckets: defined([app.RawBucketName, app.ModelsBucketName]),
    artifactsBucket: delivery.ArtifactsBucketName || undefined,
    repositoryName: delivery.PredictRepositoryName || undefined,
    dbCluster: dbCluster || undefined,
  };
}

/** What the teardown will remove, in words (printed first, and alone without --yes). */
export function teardownPlan(t: TeardownTargets, keepDbSnapshot: boolean): string[] {
  return [
    `empty (every version) ${t.appBuckets.length > 0 ? t.appBuckets.join(', ') : '(no application bucket found)'}`,
    ...(t.dbCluster ? [`turn off deletion protection of Aurora cluster ${t.dbCluster}`] : []),
    `delete stack ${t.appStack} (functions, API, state machines, Aurora, log groups, alarms)`,
    ...(t.retainedBuckets.length > 0 ? [`delete retained buckets ${t.retainedBuckets.join(', ')}`] : []),
    ...(t.dbCluster
      ? [
          keepDbSnapshot
            ? `KEEP Aurora's final snapshot of ${t.dbCluster} (--keep-db-snapshot: it holds the online store's rows)`
            : `delete Aurora's final snapshot(s) of ${t.dbCluster}`,
        ]
      : []),
    ...(t.artifactsBucket ? [`empty (every version) ${t.artifactsBucket}`] : []),
    `delete stack ${t.deliveryStack} (pipeline, CI project, connection, boundary policy)`,
    ...(t.repositoryName ? [`delete ECR repository ${t.repositoryName} with every image`] : []),
    'left in place: CloudWatch log groups created by services outside the stacks (/aws-glue/*, ' +
      'API-Gateway-Execution-Logs_*), which expire after their retention or can be deleted by hand',
  ];
}

/** Deletes every object version and delete marker of a bucket, 1,000 at a time. */
export function emptyBucket(cli: AwsCli, bucket: string): number {
  let deleted = 0;
  const work = mkdtempSync(join(tmpdir(), 'cr-teardown-'));
  try {
    for (;;) {
      const listed = cli.aws(
        ['s3api', 'list-object-versions', '--bucket', bucket, '--max-items', '1000', '--output', 'json'],
        {
          capture: true,
          allowFail: true,
        },
      );
      const objects = versionsOf(listed);
      if (objects.length === 0) return deleted;
      const file = join(work, 'delete.json');
      writeFileSync(file, JSON.stringify({ Objects: objects, Quiet: true }));
      cli.aws(['s3api', 'delete-objects', '--bucket', bucket, '--delete', `file://${file}`], {
        capture: true,
      });
      deleted += objects.length;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The Key/VersionId pairs of a list-object-versions answer (versions and delete markers). */
export function versionsOf(listed: string): Array<{ Key: string; VersionId: string }> {
  if (!listed.trim()) return [];
  const page = JSON.parse(listed) as {
    Versions?: Array<{ Key: string; VersionId: string }>;
    DeleteMarkers?: Array<{ Key: string; VersionId: string }>;
  };
  return [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])].map((o) => ({
    Key: o.Key,
    VersionId: o.VersionId,
  }));
}

export function runTeardown(
  cli: AwsCli,
  t: TeardownTargets,
  options: { keepDbSnapshot: boolean; log?: (line: string) => void },
): void {
  const log = options.log ?? ((line: string) => console.error(line));
  for (const bucket of t.appBuckets) log(`${bucket}: ${emptyBucket(cli, bucket)} versions deleted`);
  if (t.dbCluster)
    cli.aws(
      [
        'rds',
        'modify-db-cluster',
        '--db-cluster-identifier',
        t.dbCluster,
        '--no-deletion-protection',
        '--apply-immediately',
      ],
      { capture: true, allowFail: true },
    );
  cli.aws(['cloudformation', 'delete-stack', '--stack-name', t.appStack]);
  cli.aws(['cloudformation', 'wait', 'stack-delete-complete', '--stack-name', t.appStack]);
  for (const bucket of t.retainedBuckets) {
    emptyBucket(cli, bucket);
    cli.aws(['s3api', 'delete-bucket', '--bucket', bucket], { allowFail: true });
  }
  if (t.dbCluster && !options.keepDbSnapshot) {
    const snapshots = cli.aws(
      [
        'rds',
        'describe-db-cluster-snapshots',
        '--db-cluster-identifier',
        t.dbCluster,
        '--snapshot-type',
        'manual',
        '--query',
        'DBClusterSnapshots[].DBClusterSnapshotIdentifier',
        '--output',
        'text',
      ],
      { capture: true, allowFail: true },
    );
    for (const id of snapshots.split(/\s+/).filter(Boolean))
      cli.aws(['rds', 'delete-db-cluster-snapshot', '--db-cluster-snapshot-identifier', id], {
        capture: true,
      });
  }
  if (t.artifactsBucket) emptyBucket(cli, t.artifactsBucket);
  cli.aws(['cloudformation', 'delete-stack', '--stack-name', t.deliveryStack]);
  cli.aws(['cloudformation', 'wait', 'stack-delete-complete', '--stack-name', t.deliveryStack]);
  if (t.repositoryName)
    cli.aws(['ecr', 'delete-repository', '--repository-name', t.repositoryName, '--force'], {
      allowFail: true,
    });
}
