import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logger, metrics } from '#functions/commons/powertools.ts';
import type { PerformanceMetrics, PerformanceReport } from '#lib/monitoring/performance.ts';

/**
 * What the daily run emits, namespace CreditRisk, service realized-performance: `realizedAuc` and
 * `realizedAucGap` per model version (dimension modelVersion), and the champion's two without it
 * (what RealizedAucGapAlarm, infra/resources/outcomes.yml, watches); and one log line.
 */
export function recordPerformance(
  report: PerformanceReport & { ingests: number },
  points: PerformanceMetrics,
): void {
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
    versions: report.versions.map(({ modelVersion, rows, positives, realizedAuc, offlineAuc, ks, ece }) => ({
      modelVersion,
      rows,
      positives,
      realizedAuc,
      offlineAuc,
      ks,
      ece,
    })),
    champion: points.champion,
  });
}
