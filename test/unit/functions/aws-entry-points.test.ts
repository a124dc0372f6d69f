import { describe, expect, it } from '@jest/globals';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { GetObjectCommand, HeadObjectCommand, NoSuchKey, NotFound, S3Client } from '@aws-sdk/client-s3';

const context = {
  awsRequestId: 'req-1',
  functionName: 'fn',
  getRemainingTimeInMillis: () => 60000,
} as unknown as Context;

/**
 * The `handler` exports of the pipeline functions take their ports from the AWS root, on first
 * use: importing a module reads no environment, and each port talks to the bucket its variable names.
 */
describe('pipeline functions built from the AWS root', () => {
  it('train looks for the published snapshot part in FEATURES_BUCKET; register reads the candidate from MODELS_BUCKET', async () => {
    const s3 = mockClient(S3Client);
    s3.on(HeadObjectCommand).rejects(
      new NotFound({ message: 'not found', $metadata: { httpStatusCode: 404 } }),
    );
    s3.on(GetObjectCommand).rejects(new NoSuchKey({ message: 'no such key', $metadata: {} }));
    const saved = { ...process.env };
    try {
      const train = (await import('#functions/train/handler.ts')).handler;
      const register = (await import('#functions/register/handler.ts')).handler;
      const evaluate = (await import('#functions/evaluate/handler.ts')).handler;
      expect(typeof evaluate).toBe('function');
      Object.assign(process.env, {
        FEATURES_BUCKET: 'cr-dev-features',
        MODELS_BUCKET: 'cr-dev-models',
        OBJECT_KEY_PREFIX: '',
      });

      await expect(train({ snapshotId: 's1' }, context)).rejects.toMatchObject({ code: 'UNKNOWN_FEATURES' });
      expect(s3.commandCalls(HeadObjectCommand)[0].args[0].input).toEqual({
        Bucket: 'cr-dev-features',
        Key: 'features/snapshot=s1/part-00000.parquet',
      });

      await expect(register({ candidateKey: 'candidates/abc' }, context)).rejects.toMatchObject({
        code: 'UNKNOWN_CANDIDATE',
      });
      expect(s3.commandCalls(GetObjectCommand)[0].args[0].input).toEqual({
        Bucket: 'cr-dev-models',
        Key: 'candidates/abc/model.onnx',
      });
    } finally {
      process.env = saved;
      s3.restore();
    }
  });
});
