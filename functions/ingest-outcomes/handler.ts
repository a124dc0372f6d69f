import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { awsRoot } from '#functions/commons/aws-root.ts';
import { defineHandler } from '#functions/commons/define-handler.ts';
import { logger, metrics } from '#functions/commons/powertools.ts';
import { InputError } from '#lib/errors.ts';
import { ingestOutcomes } from '#lib/monitoring/outcomes.ts';
import { OUTCOMES_DROP_PREFIX, OUTCOMES_REFUSED_PREFIX, parseOutcomesEvent } from './schema.ts';
import type { IngestOutcome, IngestOutcomesDeps } from './schema.ts';
export type { IngestOutcome, IngestOutcomesDeps } from './schema.ts';

/**
 * A loan-outcomes CSV dropped under outcomes/ in the raw bucket -> the same ingest as
 * `credit-risk monitor outcomes` (lib/monitoring/outcomes.ts) into the features bucket. The drop
 * is deleted once its ingest is complete (every row is then in matched, unmatched or rejected);
 * a file refused whole (no id,decision_date,status header) moves to outcomes-refused/ with its
 * reason beside it. A repeated event finds the drop gone, or the same bytes already ingested:
 * nothing changes either way.
 */
const ingest = defineHandler({
  parse: parseOutcomesEvent,
  async run(objects, deps: IngestOutcomesDeps): Promise<{ files: IngestOutcome[] }> {
    const files: IngestOutcome[] = [];
    for (const { key, bucket } of objects) {
      if (!key.startsWith(OUTCOMES_DROP_PREFIX) || key.endsWith('/')) {
        files.push({ key, status: 'skipped', reason: `not a file under ${OUTCOMES_DROP_PREFIX}` });
        continue;
      }
      const bytes = await deps.rawStore.get(key);
      if (bytes === undefined) {
        files.push({ key, status: 'skipped', reason: 'gone: ingested and removed by an earlier delivery' });
        continue;
      }
      try {
        const r = await ingestOutcomes(
          deps.featuresStore,
          { bytes, source: `s3://${bucket}/${key}` },
          deps.clock.now(),
        );
        const s = r.summary;
        if (r.ingested) {
          metrics.addMetric('outcomesMatched', MetricUnit.Count, s.matched);
          metrics.addMetric('outcomesUnmatched', MetricUnit.Count, s.unmatched);
          metrics.addMetric('outcomesRejected', MetricUnit.Count, s.rejected);
        }
        logger.info(r.ingested ? 'outcomes ingested' : 'outcomes already ingested', {
          key,
          ...s,
          folder: r.folder,
        });
        files.push({ key, status: r.ingested ? 'ingested' : 'already-ingested', summary: s });
      } catch (e) {
        if (!(e instanceof InputError)) throw e; // retried by EventBridge
        const name = key.slice(OUTCOMES_DROP_PREFIX.length);
        await deps.rawStore.put(`${OUTCOMES_REFUSED_PREFIX}${name}`, bytes);
        await deps.rawStore.put(`${OUTCOMES_REFUSED_PREFIX}${name}.reason.txt`, `${e.code}: ${e.message}\n`);
        metrics.addMetric('outcomesFilesRefused', MetricUnit.Count, 1);
        logger.warn('outcomes file refused', { key, code: e.code, reason: e.message });
        files.push({ key, status: 'refused', code: e.code, reason: e.message });
      }
      await deps.rawStore.delete(key);
    }
    return { files };
  },
});

export const createHandler = ingest.create;
/** The Lambda entry point (serverless.yml ingestOutcomes): RAW_BUCKET, FEATURES_BUCKET. */
export const handler = ingest.lazy(() => {
  const { rawStore, featuresStore, clock } = awsRoot();
  return { rawStore, featuresStore, clock };
});
