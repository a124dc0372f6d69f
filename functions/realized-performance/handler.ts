import { awsRoot } from '#functions/commons/aws-root.ts';
import { defineHandler } from '#functions/commons/define-handler.ts';
import { loadPerformance, performanceMetrics, type PerformanceMetrics } from '#lib/monitoring/performance.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';
import { ModelRegistry } from '#lib/registry/registry.ts';
import { recordPerformance } from './telemetry.ts';

/**
 * Daily (EventBridge schedule): realized performance from every ingested outcome
 * (lib/monitoring/performance.ts), emitted per model version and for the champion (./telemetry.ts:
 * the RealizedAucGapAlarm watches the champion's gap). No outcomes yet: no data point.
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
    recordPerformance(report, points);
    return { ...points, versions: report.versions.length };
  },
});

export const createHandler = realizedPerformance.create;
/** The Lambda entry point (serverless.yml realizedPerformance): FEATURES_BUCKET, MODELS_BUCKET, MODEL_NAME. */
export const handler = realizedPerformance.lazy(() => {
  const { featuresStore, modelsStore } = awsRoot();
  return { featuresStore, modelsStore, modelName: process.env.MODEL_NAME || undefined };
});
