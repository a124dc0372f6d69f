import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { awsRoot } from '#functions/commons/aws-root.ts';
import { defineHandler } from '#functions/commons/define-handler.ts';
import { logger, metrics } from '#functions/commons/powertools.ts';
import { loadPerformance, performanceMetrics, type PerformanceMetrics } from '#lib/monitoring/performance.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';
import { ModelRegistry } from '#lib/registry/registry.ts';

/**
 * Daily (EventBridge schedule): realized performance from every ingested outcome
 * (lib/monitoring/performance.ts). Emits, namespace CreditRisk, service realized-performance:
 * `realizedAuc` and `realizedAucGap` (offline test AUC - realized) per model version (dimension
 * modelVersion), and the champion's two without that dimension: the RealizedAucGapAlarm
 * (infra/resources/outcomes.yml) watches the champion's gap. No outcomes yet: no data point.
 */
export interface RealizedPerformanceDeps {
  featuresStore: ObjectStore;
  modelsStore: ObjectStore;
  modelName?: string;
}

const realizedPerformance = defineHandler({
  parse: (event: unknown) => event,
  async run(_event, deps: RealizedPerformanceDeps): Promise<PerformanceMetrics & { versions: number }> {
    const registry = new ModelRegistry(deps.modelsStore, deps.modelName ? { name: deps.modelName } : {});
    const report = await loadPerformance({ featuresStore: deps.featuresStore, registry });
    const { champion: championVersion } = await registry.aliases();
    const points = performanceMetrics(report, championVersion ?? undefined);
    for (const v of points.perVersion) {
      const single = metrics.singleMetric();
      single.addDimension('modelVersion', v.modelVersion);
      single.addMetric('realizedAuc', MetricUnit.NoUnit, v.realizedAuc);
      if (v.realizedAucGap !== null) {
        const gap = metrics.singleMetric();
        gap.addDimension('modelVersion', v.modelVersion);
        gap.addMetric('realizedAucGap', MetricUnit.NoUnit, v.realizedAucGap);
      }
    }
    if (points.champion) {
      metrics.addMetric('realizedAuc', MetricUnit.NoUnit, points.champion.realizedAuc);
      if (points.champion.realizedAucGap !== null)
        metrics.addMetric('realizedAucGap', MetricUnit.NoUnit, points.champion.realizedAucGap);
    }
    logger.info('realized performance', {
      ingests: report.ingests,
      versions: report.versions.map(
        ({ modelVersion, rows, positives, realizedAuc, offlineAuc, ks, ece }) => ({
          modelVersion,
          rows,
          positives,
          realizedAuc,
          offlineAuc,
          ks,
          ece,
        }),
      ),
      champion: points.champion,
    });
    return { ...points, versions: report.versions.length };
  },
});

export const createHandler = realizedPerformance.create;
/** The Lambda entry point (serverless.yml realizedPerformance): FEATURES_BUCKET, MODELS_BUCKET, MODEL_NAME. */
export const handler = realizedPerformance.lazy(() => {
  const { featuresStore, modelsStore } = awsRoot();
  return { featuresStore, modelsStore, modelName: process.env.MODEL_NAME || undefined };
});
