import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateLoans } from '#lib/data/generate.ts';
import { buildFeatures } from '#lib/features/build.ts';
import { publishSnapshot, readCurrentSnapshot } from '#lib/features/publish.ts';
import { snapshotAuditLog } from '#lib/features/snapshot-history.ts';
import { createLocalRoot, type LocalRoot } from '#local/root.ts';
import { runPipelineLocally } from '#local/sfn/local-pipeline.ts';
import { freshHome } from '../../support/home.ts';

/**
 * `pipeline run` on an input whose every row is invalid: the real training.asl.json on the local
 * runner, with the real extract function (DuckDB build, then the publish guards) over the local
 * store and PGlite. The guards refuse the empty snapshot inside ExtractFeatures, the Task's Catch
 * notifies and the run fails, and the snapshot served before is still the one served.
 */
describe('training machine: an all-invalid input fails the run and leaves serving untouched', () => {
  let root: LocalRoot;
  let served = '';
  let knownId = '';

  beforeAll(async () => {
    root = createLocalRoot(freshHome('cr-sfn-guards-'));
    const good = join(root.home.data, 'good.csv');
    generateLoans({ rows: 1500, seed: 5, out: good, startDate: '2020-01-01', years: 1 });
    knownId = readFileSync(good, 'utf8').split('\n')[1].split(',')[1];
    const built = await buildFeatures({
      input: good,
      outDir: join(root.home.tmp, 'good'),
      asOf: '2022-01-01',
    });
    served = (
      await publishSnapshot({
        snapshotDir: join(root.home.tmp, 'good'),
        objectStore: root.objectStore,
        featureStore: root.featureStore,
      })
    ).snapshotId;
    expect(served).toBe(built.snapshotId);

    // Latin-1 bytes and non-numeric ids on every row: nothing survives validation.
    const header = readFileSync(good, 'utf8').split('\n')[0];
    const rows = readFileSync(good, 'utf8').trim().split('\n').slice(1, 200);
    const bad = join(root.home.data, 'bad.csv');
    writeFileSync(
      bad,
      Buffer.concat([
        Buffer.from(`${header}\n`),
        ...rows.map((r) => Buffer.from(`${r.replace(/^[^,]*,[^,]*/, 'n\u00famero,cliente')}\n`, 'latin1')),
      ]),
    );
    await root.objectStore.upload(bad, 'raw/bad.csv');
  }, 120_000);

  afterAll(async () => {
    await root.featureStore.close();
  });

  it('ExtractFeatures fails with PublishRefusedError, NotifyFailure names it, nothing after it runs', async () => {
    const { result, record } = await runPipelineLocally({
      root,
      input: { input: 'raw/bad.csv', asOf: '2022-01-01' },
      waitScale: 0,
    });
    expect(result.status).toBe('failed');
    const tasks = record.states.filter((s) => s.type === 'Task').map((s) => s.name);
    expect(tasks).toEqual(['AwaitTurn', 'ExtractFeatures', 'NotifyFailure']);
    const extract = record.states.find((s) => s.name === 'ExtractFeatures');
    expect(extract?.error).toMatchObject({
      error: 'PublishRefusedError',
      cause: expect.stringContaining('no_customers'),
    });

    const notes = readFileSync(join(root.home.notifications, 'notifications.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { subject: string; message: string });
    expect(notes.at(-1)?.subject).toBe('credit-risk: training run failed');
    expect(notes.at(-1)?.message).toMatch(/failed: PublishRefusedError: publish of snapshot \w+ refused/);
    expect(notes.at(-1)?.message).toContain('quarantine_rate');

    // Serving untouched: the pointer, the online store and a known customer.
    expect((await readCurrentSnapshot(root.objectStore))?.snapshotId).toBe(served);
    expect(await root.featureStore.currentSnapshot()).toBe(served);
    expect((await root.featureStore.get(knownId))?.snapshotId).toBe(served);
    expect((await snapshotAuditLog(root.objectStore).entries()).map((e) => e.snapshotId)).toEqual([served]);
    expect(
      (await root.objectStore.list('features/')).some(
        (o) => !o.key.includes(served) && o.key.includes('snapshot='),
      ),
    ).toBe(false);
  });
});
