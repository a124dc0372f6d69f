import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { tmpdir } from 'node:os';
import { awsRoot, featureEngineTuning } from '#functions/commons/aws-root.ts';
import { defineHandler } from '#functions/commons/define-handler.ts';
import { logger, metrics } from '#functions/commons/powertools.ts';
import {
  FeatureExtraction,
  featureSqlBuild,
  featureStages,
  type ExtractPorts,
} from '#lib/features/extract-step.ts';
import { checkBucket, parseEvent } from './schema.ts';

export { parseEvent, parseExtractEvent, type ExtractEvent } from './schema.ts';
export { featureSqlBuild, featureStages } from '#lib/features/extract-step.ts';
export type { BuildFeaturesFn, ExtractFeaturesResult, FeatureStages } from '#lib/features/extract-step.ts';

/**
 * The feature steps (lib/features/extract-step.ts): a full build and publish, or one stage of the
 * training machine (resolve; the Glue branch's prepare and publish). Events: ./schema.ts.
 */
export interface ExtractFeaturesDeps extends ExtractPorts {
  /** When set, an S3 event naming another bucket is refused (misrouted notification). */
  rawBucket?: string;
}

const extract = defineHandler({
  parse: parseEvent,
  async run(request, d: ExtractFeaturesDeps, context) {
    checkBucket(request, d.rawBucket);
    const { kind, ...logged } = request;
    logger.info(kind === 'build' ? 'extracting features' : `feature stage ${request.stage}`, { ...logged });
    const step = new FeatureExtraction(d, (message, fields) => logger.info(message, fields));
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    if (request.kind === 'stage' && request.stage === 'resolve') {
      const resolved = await step.resolve(request.input);
      metrics.addMetric('rawInputBytes', MetricUnit.Bytes, resolved.sizeBytes);
      return resolved;
    }
    if (request.kind === 'stage' && request.stage === 'prepare') {
      const staged = await step.prepare(request.request.input, request.request.asOf);
      metrics.addMetric('prepareSeconds', MetricUnit.Seconds, seconds());
      return staged;
    }
    const publisher = `lambda ${context.functionName ?? 'extract-features'} request ${context.awsRequestId ?? 'unknown'}`;
    const { result, onlineRows } =
      request.kind === 'build'
        ? await step.build(request.key, request.asOf, publisher)
        : await step.publishStaged(request.staging, publisher);
    metrics.addMetric('extractRowsIn', MetricUnit.Count, result.rowsIn);
    metrics.addMetric('extractRowsQuarantined', MetricUnit.Count, result.rowsQuarantined);
    metrics.addMetric('extractSeconds', MetricUnit.Seconds, seconds());
    logger.info('snapshot published', { ...result, onlineRows, seconds: seconds() });
    return result;
  },
});

export const createHandler = extract.create;
/** The Lambda entry point: AWS adapters from the container's composition root, built on first call. */
export const handler = extract.lazy((): ExtractFeaturesDeps => {
  const { rawStore, rawBucket, featuresStore, featureStore, modelsStore, clock } = awsRoot();
  const tuning = featureEngineTuning();
  const engines = { buildFeatures: featureSqlBuild(clock, tuning), stages: featureStages(clock, tuning) };
  return {
    rawStore,
    rawBucket,
    featuresStore,
    featureStore,
    modelsStore,
    clock,
    tmpDir: tmpdir(),
    ...engines,
  };
});
