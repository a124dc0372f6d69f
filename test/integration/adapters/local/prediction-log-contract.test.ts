import { describe } from '@jest/globals';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import { readPredictionLog } from '#lib/monitoring/prediction-log-records.ts';
import { PredictionLogFiles } from '#local/server/prediction-log-files.ts';
import { predictionLogContract } from '../../../contracts/prediction-log.contract.ts';

describe('PredictionLog contract: local JSON-lines files (credit-risk serve)', () => {
  predictionLogContract(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cr-prediction-log-'));
    const store = new FsObjectStore(dir);
    return {
      log: new PredictionLogFiles(dir, 'worker-1'),
      delivered: async () => (await readPredictionLog(store)).records,
      // Every line of every file under the store, read synchronously.
      deliveredCountNow: () =>
        (readdirSync(dir, { recursive: true, encoding: 'utf8' }) as string[])
          .map((f) => join(dir, f))
          .filter((f) => statSync(f).isFile())
          .reduce(
            (n, f) =>
              n +
              readFileSync(f, 'utf8')
                .split('\n')
                .filter((l) => l.startsWith('{')).length,
            0,
          ),
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  });
});
