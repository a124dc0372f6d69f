import { describe, expect, it } from '@jest/globals';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AliasTableDeployer } from '#lib/adapters/local/alias-table-deployer.ts';
import { BuildDirBuilder } from '#lib/adapters/local/build-dir-builder.ts';
import { EmfFileMetricsReader, percentile } from '#lib/adapters/local/emf-metrics-reader.ts';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import { JsonlNotifier } from '#lib/adapters/local/jsonl-notifier.ts';
import { ModelRegistry } from '#lib/registry/registry.ts';
import { freshHome } from '../../../support/home.ts';

describe('AliasTableDeployer (local Lambda versions + alias)', () => {
  it('numbers versions like Lambda, republishing the same build returns the same version', async () => {
    const home = freshHome();
    const d = new AliasTableDeployer(join(home.builds, 'alias-live.json'));
    expect(await d.routing()).toBeUndefined();
    const one = await d.publish({ modelVersion: 'a'.repeat(64), artifact: '/b/1', buildId: 'b1' });
    const two = await d.publish({ modelVersion: 'b'.repeat(64), artifact: '/b/2', buildId: 'b2' });
    const again = await d.publish({ modelVersion: 'a'.repeat(64), artifact: '/b/1', buildId: 'b1' });
    expect([one.functionVersion, two.functionVersion, again.functionVersion]).toEqual(['1', '2', '1']);
    await d.route({ functionVersion: '1', canary: { functionVersion: '2', weight: 0.1 } });
    expect(await d.routing()).toEqual({
      functionVersion: '1',
      canary: { functionVersion: '2', weight: 0.1 },
    });
    expect(await d.modelOf('2')).toBe('b'.repeat(64));
    // The newest build of a model is the version a promote or rollback routes to.
    await d.publish({ modelVersion: 'a'.repeat(64), artifact: '/b/3', buildId: 'b3' });
    expect(await d.versionOf('a'.repeat(64))).toBe('3');
    expect(await d.versionOf('b'.repeat(64))).toBe('2');
    expect(await d.versionOf('c'.repeat(64))).toBeUndefined();
    expect(AliasTableDeployer.inBuilds(home.builds).file).toBe(d.file);
  });

  it('refuses to route to a version that was never published and keeps the old routing', async () => {
    const home = freshHome();
    const d = new AliasTableDeployer(join(home.builds, 'alias-live.json'));
    await d.publish({ modelVersion: 'a'.repeat(64), artifact: '/b/1', buildId: 'b1' });
    await d.route({ functionVersion: '1', canary: null });
    await expect(
      d.route({ functionVersion: '1', canary: { functionVersion: '9', weight: 0.5 } }),
    ).rejects.toThrow(/version 9: it was never published/);
    expect(await d.routing()).toEqual({ functionVersion: '1', canary: null });
  });
});

describe('BuildDirBuilder (local container rebuild)', () => {
  async function setup() {
    const home = freshHome();
    const store = new FsObjectStore(home.store);
    const registry = new ModelRegistry(store);
    const { version } = await registry.register({
      model: new Uint8Array([1, 2, 3]),
      card: '{"threshold":0.5}',
      report: '<p>r</p>',
    });
    let bundles = 0;
    const bundle = async (outDir: string) => {
      bundles++;
      mkdirSync(outDir, { recursive: true });
      writeFileSync(join(outDir, 'index.mjs'), 'export const handler = () => 1;\n');
      return join(outDir, 'index.mjs');
    };
    return {
      home,
      store,
      version,
      builder: new BuildDirBuilder(home.builds, store, bundle),
      bundles: () => bundles,
    };
  }

  it('puts the bundle and the registered model into a directory named by both', async () => {
    const { home, version, builder } = await setup();
    const built = await builder.build({ modelName: 'credit-risk', modelVersion: version });
    expect(built.reused).toBe(false);
    expect(built.buildId).toMatch(new RegExp(`^${version.slice(0, 12)}-[0-9a-f]{12}$`));
    expect(built.artifact).toBe(join(home.builds, built.buildId));
    expect(readdirSync(built.artifact).sort()).toEqual(['build.json', 'function', 'model']);
    expect([...readFileSync(join(built.artifact, 'model', 'model.onnx'))]).toEqual([1, 2, 3]);
    expect(JSON.parse(readFileSync(join(built.artifact, 'build.json'), 'utf8'))).toMatchObject({
      modelVersion: version,
    });
  });

  it('building the same model and code again reuses the directory and leaves no temp files', async () => {
    const { home, version, builder } = await setup();
    const first = await builder.build({ modelName: 'credit-risk', modelVersion: version });
    const second = await builder.build({ modelName: 'credit-risk', modelVersion: version });
    expect(second).toEqual({ ...first, reused: true });
    expect(readdirSync(home.builds).filter((f) => f.startsWith('.tmp-'))).toEqual([]);
  });

  it('refuses a version that is not registered', async () => {
    const { builder, home } = await setup();
    await expect(
      builder.build({ modelName: 'credit-risk', modelVersion: 'f'.repeat(64) }),
    ).rejects.toMatchObject({ code: 'UNKNOWN_MODEL_VERSION' });
    expect(existsSync(home.builds) && readdirSync(home.builds)).toEqual([]);
  });
});

describe('JsonlNotifier (local SNS)', () => {
  it('appends one JSON line per notification', async () => {
    const home = freshHome();
    const file = join(home.notifications, 'notifications.jsonl');
    const n = new JsonlNotifier(file, () => new Date('2025-01-01T00:00:00Z'));
    const ids = await Promise.all([
      n.notify({ subject: 'a', message: 'one' }),
      n.notify({ subject: 'b', message: 'two' }),
    ]);
    const lines = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.id).sort()).toEqual([...ids].sort());
    expect(lines.map((l) => l.message).sort()).toEqual(['one', 'two']);
    expect(lines[0].at).toBe('2025-01-01T00:00:00.000Z');
  });
});

describe('EmfFileMetricsReader (local CloudWatch)', () => {
  const emf = (at: number, v: string, fields: Record<string, unknown>, names: string[]) =>
    JSON.stringify({
      _aws: {
        Timestamp: at,
        CloudWatchMetrics: [
          {
            Namespace: 'CreditRisk',
            Dimensions: [['service', 'modelVersion']],
            Metrics: names.map((Name) => ({ Name })),
          },
        ],
      },
      service: 'predict',
      modelVersion: v,
      ...fields,
    });

  it('sums counts, takes the p99 and builds the score histogram per version within the window', async () => {
    const home = freshHome();
    const t = Date.parse('2025-01-01T00:00:00Z');
    const lines = [
      emf(t + 1000, 'v1', { predictionLatency: 5, predictions: 1 }, ['predictionLatency', 'predictions']),
      emf(t + 1000, 'v1', { predictionLatency: [7, 9], predictions: [1, 1] }, [
        'predictionLatency',
        'predictions',
      ]),
      emf(t + 1000, 'v1', { probabilityBucket: '0.1-0.2', predictionsByProbabilityBucket: 2 }, [
        'predictionsByProbabilityBucket',
      ]),
      emf(t + 1000, 'v1', { probabilityBucket: '0.9-1.0', predictionsByProbabilityBucket: 1 }, [
        'predictionsByProbabilityBucket',
      ]),
      emf(t + 1000, 'v1', { errorCode: 'INTERNAL', serverErrors: 1 }, ['serverErrors']),
      emf(t + 1000, 'v2', { predictionLatency: 100, predictions: 1 }, ['predictionLatency', 'predictions']),
      emf(t - 5000, 'v1', { predictionLatency: 999, predictions: 1 }, ['predictionLatency', 'predictions']),
      '{"level":"INFO","message":"not a metric"}',
      '{"_aws": cut in the middle',
    ];
    writeFileSync(join(home.metrics, 'predict.emf.jsonl'), `${lines.join('\n')}\n`);
    const reader = new EmfFileMetricsReader(home.metrics);
    const v1 = await reader.traffic('v1', { start: new Date(t), end: new Date(t + 2000) });
    expect(v1).toEqual({
      modelVersion: 'v1',
      predictions: 3,
      serverErrors: 1,
      p99LatencyMs: 9,
      scoreHistogram: [0, 2, 0, 0, 0, 0, 0, 0, 0, 1],
    });
    expect(
      (await reader.traffic('v3', { start: new Date(t), end: new Date(t + 2000) })).p99LatencyMs,
    ).toBeNull();
  });

  it('reads nothing, not an error, before anything was served', async () => {
    const reader = new EmfFileMetricsReader('/nonexistent/metrics');
    expect((await reader.traffic('v', { start: new Date(0), end: new Date() })).predictions).toBe(0);
  });

  it('percentile is nearest-rank', () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(
      percentile(
        Array.from({ length: 100 }, (_, i) => i + 1),
        99,
      ),
    ).toBe(99);
  });
});
