import { describe } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PgliteFeatureStore } from '#lib/adapters/local/pglite-feature-store.ts';
import { featureStoreContract } from '../../../contracts/feature-store.contract.ts';

describe('FeatureStore contract: PgliteFeatureStore (PGlite in a temp data dir)', () => {
  featureStoreContract(async () => ({
    store: new PgliteFeatureStore(mkdtempSync(join(tmpdir(), 'cr-pglite-contract-'))),
  }));
});
