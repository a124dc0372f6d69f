import { describe, expect, it } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OwnedPgliteFeatureStore } from '#lib/adapters/local/owned-pglite-feature-store.ts';
import { PgliteFeatureStore } from '#lib/adapters/local/pglite-feature-store.ts';
import { featureStoreContract } from '../../../contracts/feature-store.contract.ts';

describe('FeatureStore contract: PgliteFeatureStore (PGlite in a temp data dir)', () => {
  featureStoreContract(async () => ({
    store: new PgliteFeatureStore(mkdtempSync(join(tmpdir(), 'cr-pglite-contract-'))),
  }));
});

describe('FeatureStore contract: OwnedPgliteFeatureStore, the owner (the local root store)', () => {
  featureStoreContract(async () => ({
    store: new OwnedPgliteFeatureStore(mkdtempSync(join(tmpdir(), 'cr-owned-contract-'))),
  }));
});

describe('FeatureStore contract: OwnedPgliteFeatureStore, a client going through the owner', () => {
  let owner: OwnedPgliteFeatureStore;
  featureStoreContract(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cr-owned-client-contract-'));
    owner = new OwnedPgliteFeatureStore(dir);
    await owner.ping();
    const client = new OwnedPgliteFeatureStore(dir);
    return { store: client, close: () => owner.close() };
  });
  it('the store under test was a client: another instance owned the directory', async () => {
    expect((await owner.owner()).self).toBe(true);
  });
});
