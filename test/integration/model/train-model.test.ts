import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '#lib/errors.ts';
import { trainModel, trainToDirectory } from '#lib/model/train.ts';
import { readModelDirectory } from '#lib/registry/model-directory.ts';
import { syntheticTable } from '../../unit/model/synthetic-data.ts';

const dir = mkdtempSync(join(tmpdir(), 'train-model-'));
const t = syntheticTable(3000, 2);
const csv = join(dir, 'features.csv');
writeFileSync(
  csv,
  [
    `loan_id,${t.featureNames.join(',')},status`,
    ...Array.from({ length: t.numRows }, (_, i) =>
      [i, ...t.columns.map((c) => (Number.isNaN(c[i]) ? '' : c[i])), t.label[i]].join(','),
    ),
  ].join('\n'),
);
writeFileSync(
  join(dir, 'manifest.json'),
  JSON.stringify({
    snapshotId: 's1',
    columns: [
      { name: 'loan_id', role: 'id' },
      { name: 'status', role: 'label' },
    ],
  }),
);

describe('trainToDirectory (the pipeline train step)', () => {
  it('writes a model directory the registry can read and returns the scored test split with its columns', async () => {
    const out = join(dir, 'model');
    const { trained, testSet } = await trainToDirectory({
      input: csv,
      out,
      seed: 3,
      params: { numTrees: 15, numThreads: 1 },
    });
    const files = await readModelDirectory(out);
    expect(files.model).toEqual(trained.modelBytes);
    expect(testSet.y.length).toBe(450);
    expect(testSet.p.length).toBe(450);
    expect(Object.keys(testSet.columns)).toEqual(['loan_id', ...t.featureNames]);
    expect(trained.card.data.snapshotId).toBe('s1');
    expect(trained.card.split.kind).toBe('random');
  });

  it('refuses an unknown slice column with its code, from the work done beside test scoring', async () => {
    const failed = trainModel({
      input: csv,
      sliceColumns: ['no_such_column'],
      params: { numTrees: 5, numThreads: 2 },
    });
    await expect(failed).rejects.toThrow(InputError);
    await expect(failed).rejects.toMatchObject({ code: 'UNKNOWN_COLUMN' });
  });

  it('rejects an unknown training parameter as an input error', async () => {
    await expect(
      trainToDirectory({ input: csv, out: join(dir, 'x'), params: { numTrez: 5 } }),
    ).rejects.toThrow(InputError);
  });
});
