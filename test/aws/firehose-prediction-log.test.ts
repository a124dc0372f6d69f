import { CreateDeliveryStreamCommand, FirehoseClient } from '@aws-sdk/client-firehose';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { createAwsRoot } from '#functions/commons/aws-root.ts';
import { parsePredictionLine } from '#lib/monitoring/prediction-log-records.ts';
import type { PredictionRecord } from '#lib/ports/prediction-log.ts';
import { predictionLogContract } from '../contracts/prediction-log.contract.ts';
import { describeWithEmulators, lambdaRole, newBucket, uniqueName } from './support/emulators.ts';

/**
 * The PredictionLog contract on moto's Kinesis Data Firehose: the composition root's own log (the
 * real @aws-sdk/client-firehose, loaded on the first flush, endpoint from AWS_ENDPOINT_URL) into a
 * delivery stream whose S3 destination moto writes at once. What reached S3 is read back as the
 * JSON lines the records carried; moto names each delivered object by the second it arrived (and a
 * random suffix), so the lines are put back in the order the records were made (their `time`).
 */
describeWithEmulators('PredictionLog contract: FirehosePredictionLog on moto Firehose to S3', () => {
  predictionLogContract(async () => {
    const s3 = new S3Client({});
    const firehose = new FirehoseClient({});
    const bucket = await newBucket(s3, 'cr-prediction-log');
    const stream = uniqueName('prediction-log');
    await firehose.send(
      new CreateDeliveryStreamCommand({
        DeliveryStreamName: stream,
        DeliveryStreamType: 'DirectPut',
        ExtendedS3DestinationConfiguration: {
          BucketARN: `arn:aws:s3:::${bucket}`,
          RoleARN: await lambdaRole(uniqueName('firehose-role')),
          Prefix: 'predictions-log/',
        },
      }),
    );
    const root = createAwsRoot({ ...process.env, PREDICTION_LOG_STREAM: stream });
    const log = root.predictionLog;
    if (!log) throw new Error('PREDICTION_LOG_STREAM set, but the root gave no prediction log');

    async function delivered(): Promise<PredictionRecord[]> {
      const records: PredictionRecord[] = [];
      let token: string | undefined;
      do {
        const page = await s3.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: 'predictions-log/', ContinuationToken: token }),
        );
        for (const o of page.Contents ?? []) {
          const body = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key }));
          for (const line of (await body.Body!.transformToString()).split('\n')) {
            if (line === '') continue;
            const parsed = parsePredictionLine(line);
            if (typeof parsed === 'string') throw new Error(`${o.Key}: ${parsed}`);
            records.push(parsed);
          }
        }
        token = page.NextContinuationToken;
      } while (token);
      return records.sort((a, b) => a.time.localeCompare(b.time));
    }

    return {
      log,
      delivered,
      cleanup: async () => {
        firehose.destroy();
        s3.destroy();
      },
    };
  });
});
