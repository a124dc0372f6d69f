import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';

/**
 * Powertools singletons, built once per container and shared by every handler module
 * (attach them with middy: injectLambdaContext, logMetrics, captureLambdaHandler).
 * Namespace `CreditRisk`; service names come from POWERTOOLS_SERVICE_NAME per function.
 * Metric names are lowerCamelCase (docs/ARCHITECTURE.md lists them).
 */
const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? 'credit-risk';
export const logger = new Logger({ serviceName });
// Metrics' own warnings (e.g. "No application metrics to publish" after a failed invocation)
// go through the structured logger, as WARN lines with the request context, not raw console text.
const metricsOptions = {
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'CreditRisk',
  serviceName,
  logger,
};
export const metrics = new Metrics(metricsOptions);

/**
 * A Metrics of its own with these dimensions always on (besides `service`), configured as the
 * shared one: for metrics gathered over many requests and published together, which the shared
 * instance cannot do while other handlers add and publish theirs (functions/predict/telemetry.ts).
 */
export function dimensionedMetrics(dimensions: Record<string, string>): Metrics {
  return new Metrics({ ...metricsOptions, defaultDimensions: dimensions });
}
export const tracer = new Tracer({
  serviceName,
  enabled:
    process.env.POWERTOOLS_TRACE_ENABLED !== 'false' && process.env.AWS_LAMBDA_FUNCTION_NAME !== undefined,
});
