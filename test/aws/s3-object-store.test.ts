import { S3Client } from '@aws-sdk/client-s3';
import { S3ObjectStore } from '#lib/adapters/aws/s3-object-store.ts';
import { createAwsRoot } from '#functions/commons/aws-root.ts';
import { objectStoreContract } from '../contracts/object-store.contract.ts';
import { describeWithEmulators, newBucket } from './support/emulators.ts';

describeWithEmulators('ObjectStore contract: S3ObjectStore on moto S3', () => {
  objectStoreContract(async () => {
    // The composition root's own client and store (endpoint from AWS_ENDPOINT_URL, as in a deploy).
    const s3 = new S3Client({});
    const bucket = await newBucket(s3, 'cr-contract');
    const root = createAwsRoot({ ...process.env, FEATURES_BUCKET: bucket });
    return { store: root.featuresStore, close: async () => root.s3.destroy() };
  });
});

describeWithEmulators('ObjectStore contract: S3ObjectStore under a key prefix', () => {
  objectStoreContract(async () => {
    const s3 = new S3Client({});
    const bucket = await newBucket(s3, 'cr-contract-prefix');
    return { store: new S3ObjectStore(s3, bucket, 'dev'), close: async () => s3.destroy() };
  });
});
