import { expect, it } from '@jest/globals';
import { RDSDataClient } from '@aws-sdk/client-rds-data';
import { RdsDataFeatureStore, rdsDataLimitsFrom } from '#lib/adapters/aws/rds-data-feature-store.ts';
import { createAwsRoot } from '#functions/commons/aws-root.ts';
import { customers, featureStoreContract } from '../contracts/feature-store.contract.ts';
import { DATA_API_LOCAL_MAX_REQUEST_BYTES, describeWithEmulators, newDatabase } from './support/emulators.ts';

describeWithEmulators(
  'FeatureStore contract: RdsDataFeatureStore on PostgreSQL behind data-api-local',
  () => {
    featureStoreContract(async () => {
      const rds = new RDSDataClient({});
      const target = await newDatabase(rds, 'cr_contract');
      rds.destroy();
      // The composition root's store, with the chunk size a setting (DB_MAX_REQUEST_BYTES).
      const root = createAwsRoot({
        ...process.env,
        DB_CLUSTER_ARN: target.resourceArn,
        DB_SECRET_ARN: target.secretArn,
        DB_NAME: target.database,
        DB_MAX_REQUEST_BYTES: String(DATA_API_LOCAL_MAX_REQUEST_BYTES),
      });
      return { store: root.featureStore, close: async () => root.rdsData.destroy() };
    });
  },
);

describeWithEmulators('RdsDataFeatureStore chunking on the emulator', () => {
  it('the default 3 MiB chunk is refused by a ~100 KB endpoint, and the setting makes the same load pass', async () => {
    const rds = new RDSDataClient({});
    const target = await newDatabase(rds, 'cr_chunks');
    try {
      const tooBig = new RdsDataFeatureStore(rds, target, rdsDataLimitsFrom({}));
      await tooBig.init();
      await expect(tooBig.replaceSnapshot('S1', [customers('S1', 0, 400)])).rejects.toThrow();
      expect(await tooBig.currentSnapshot()).toBeUndefined();
      const fits = new RdsDataFeatureStore(
        rds,
        target,
        rdsDataLimitsFrom({ DB_MAX_REQUEST_BYTES: String(DATA_API_LOCAL_MAX_REQUEST_BYTES) }),
      );
      expect(await fits.replaceSnapshot('S1', [customers('S1', 0, 400)])).toEqual({ rows: 400 });
      expect(await fits.currentSnapshot()).toBe('S1');
    } finally {
      rds.destroy();
    }
  });
});
