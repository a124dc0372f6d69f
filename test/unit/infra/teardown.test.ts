import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import {
  runTeardown,
  teardownPlan,
  teardownTargets,
  versionsOf,
  type AwsCli,
} from '../../../infra/teardown.ts';

/**
 * A fake AWS CLI: buckets hold object versions (listed 2 at a time, as --max-items pages would be)
 * and record every call, so the order of the teardown can be asserted. No AWS call is made.
 */
class FakeCli implements AwsCli {
  readonly dryRun = false;
  readonly calls: string[] = [];
  constructor(readonly buckets: Map<string, Array<{ Key: string; VersionId: string }>>) {}

  aws(args: string[]): string {
    this.calls.push(args.slice(0, 2).join(' ') + ' ' + (args[3] ?? ''));
    const bucket = args[args.indexOf('--bucket') + 1];
    if (args[1] === 'list-object-versions') {
      const page = (this.buckets.get(bucket) ?? []).slice(0, 2);
      return page.length === 0
        ? '{}'
        : JSON.stringify({ Versions: page.slice(0, 1), DeleteMarkers: page.slice(1) });
    }
    if (args[1] === 'delete-objects') {
      const file = args[args.indexOf('--delete') + 1].replace(/^file:\/\//, '');
      const { Objects } = JSON.parse(readFileSync(file, 'utf8')) as { Objects: Array<{ VersionId: string }> };
      const gone = new Set(Objects.map((o) => o.VersionId));
      this.buckets.set(
        bucket,
        (this.buckets.get(bucket) ?? []).filter((o) => !gone.has(o.VersionId)),
      );
    }
    if (args[1] === 'describe-db-cluster-snapshots') return 'final-1\tfinal-2';
    return '';
  }
}

const versions = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ Key: `k${i % 2}`, VersionId: `v${i}` }));

describe('npm run deploy -- --teardown', () => {
  const targets = teardownTargets(
    'dev',
    {
      RawBucketName: 'raw-b',
      FeaturesBucketName: 'features-b',
      ModelsBucketName: 'models-b',
      ServerlessDeploymentBucketName: 'deploy-b',
    },
    { ArtifactsBucketName: 'artifacts-b', PredictRepositoryName: 'credit-risk-dev-predict' },
    'credit-risk-dev-databasecluster-x',
  );

  it('reads versions and delete markers of a listing', () => {
    expect(versionsOf('')).toEqual([]);
    expect(
      versionsOf(
        JSON.stringify({
          Versions: [{ Key: 'a', VersionId: '1', Size: 3 }],
          DeleteMarkers: [{ Key: 'a', VersionId: '2' }],
        }),
      ),
    ).toEqual([
      { Key: 'a', VersionId: '1' },
      { Key: 'a', VersionId: '2' },
    ]);
  });

  it('empties every bucket of every version before the stack that owns it goes; retained ones and the repository are deleted after', () => {
    const buckets = new Map([
      ['raw-b', versions(5)],
      ['features-b', versions(3)],
      ['models-b', versions(1)],
      ['deploy-b', versions(2)],
      ['artifacts-b', versions(4)],
    ]);
    const cli = new FakeCli(buckets);
    runTeardown(cli, targets, { keepDbSnapshot: false, log: () => undefined });
    for (const [name, left] of buckets) expect({ name, left: left.length }).toEqual({ name, left: 0 });
    const at = (call: string) => cli.calls.findIndex((c) => c.startsWith(call));
    const last = (call: string) =>
      cli.calls.map((c, i) => (c.startsWith(call) ? i : -1)).reduce((a, b) => Math.max(a, b));
    expect(at('rds modify-db-cluster')).toBeLessThan(at('cloudformation delete-stack credit-risk-dev'));
    expect(cli.calls.filter((c) => c.startsWith('cloudformation delete-stack'))).toEqual([
      'cloudformation delete-stack credit-risk-dev',
      'cloudformation delete-stack credit-risk-dev-delivery',
    ]);
    expect(cli.calls.filter((c) => c.startsWith('s3api delete-bucket')).map((c) => c.split(' ')[2])).toEqual([
      'raw-b',
      'models-b',
    ]);
    expect(at('s3api delete-bucket')).toBeGreaterThan(at('cloudformation wait'));
    expect(cli.calls.filter((c) => c.startsWith('rds delete-db-cluster-snapshot'))).toHaveLength(2);
    expect(last('ecr delete-repository')).toBe(cli.calls.length - 1);
  });

  it('keeps the final snapshot with --keep-db-snapshot, and the plan says what stays', () => {
    const cli = new FakeCli(new Map());
    runTeardown(cli, targets, { keepDbSnapshot: true, log: () => undefined });
    expect(cli.calls.some((c) => c.startsWith('rds delete-db-cluster-snapshot'))).toBe(false);
    expect(teardownPlan(targets, true).join('\n')).toContain("KEEP Aurora's final snapshot");
    expect(teardownPlan(targets, false).join('\n')).toContain(
      'delete ECR repository credit-risk-dev-predict with every image',
    );
  });
});
