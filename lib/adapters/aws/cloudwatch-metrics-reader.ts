import { CloudWatchClient, GetMetricDataCommand, type MetricDataQuery } from '@aws-sdk/client-cloudwatch';
import {
  PROBABILITY_BUCKETS,
  type MetricsReader,
  type MetricsWindow,
  type VersionTraffic,
} from '#lib/ports/metrics-reader.ts';

/**
 * MetricsReader on CloudWatch: one GetMetricData call per version for the metrics the predict
 * function emits with Powertools (namespace CreditRisk, dimensions service + modelVersion).
 * The period covers the whole window, so each query answers with one datapoint (two when the
 * window straddles a period boundary: counts are summed, the p99 takes the larger).
 * serverErrors carries an errorCode dimension too, so it is summed over a SEARCH expression.
 */
export class CloudWatchMetricsReader implements MetricsReader {
  constructor(
    private readonly cloudwatch: CloudWatchClient,
    private readonly options: { namespace?: string; service?: string } = {},
  ) {}

  queries(modelVersion: string, period: number): MetricDataQuery[] {
    const namespace = this.options.namespace ?? 'CreditRisk';
    const service = this.options.service ?? 'predict';
    const dims = [
      { Name: 'service', Value: service },
      { Name: 'modelVersion', Value: modelVersion },
    ];
    const stat = (
      Id: string,
      MetricName: string,
      Stat: string,
      extra: { Name: string; Value: string }[] = [],
    ): MetricDataQuery => ({
      Id,
      MetricStat: {
        Metric: { Namespace: namespace, MetricName, Dimensions: [...dims, ...extra] },
        Period: period,
        Stat,
      },
      ReturnData: true,
    });
    return [
      stat('predictions', 'predictions', 'Sum'),
      stat('latency', 'predictionLatency', 'p99'),
      {
        Id: 'errors',
        Expression: `SUM(SEARCH('{${namespace},errorCode,modelVersion,service} MetricName="serverErrors" modelVersion="${modelVersion}" service="${service}"', 'Sum', ${period}))`,
        Period: period,
        ReturnData: true,
      },
      ...PROBABILITY_BUCKETS.map((bucket, i) =>
        stat(`b${i}`, 'predictionsByProbabilityBucket', 'Sum', [
          { Name: 'probabilityBucket', Value: bucket },
        ]),
      ),
    ];
  }

  async traffic(modelVersion: string, window: MetricsWindow): Promise<VersionTraffic> {
    const seconds = Math.max(1, (window.end.getTime() - window.start.getTime()) / 1000);
    const period = Math.max(60, Math.ceil(seconds / 60) * 60);
    const values = new Map<string, number[]>();
    let token: string | undefined;
    do {
      const page = await this.cloudwatch.send(
        new GetMetricDataCommand({
          MetricDataQueries: this.queries(modelVersion, period),
          StartTime: window.start,
          EndTime: window.end,
          ScanBy: 'TimestampAscending',
          NextToken: token,
        }),
      );
      for (const r of page.MetricDataResults ?? []) {
        if (r.Id) values.set(r.Id, [...(values.get(r.Id) ?? []), ...(r.Values ?? [])]);
      }
      token = page.NextToken;
    } while (token);
    const total = (id: string) => (values.get(id) ?? []).reduce((a, b) => a + b, 0);
    const latency = values.get('latency') ?? [];
    return {
      modelVersion,
      predictions: total('predictions'),
      serverErrors: total('errors'),
      p99LatencyMs: latency.length > 0 ? Math.max(...latency) : null,
      scoreHistogram: PROBABILITY_BUCKETS.map((_, i) => total(`b${i}`)),
    };
  }
}
