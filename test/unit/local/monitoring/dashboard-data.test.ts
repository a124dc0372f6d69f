import { describe, expect, it } from '@jest/globals';
import type { EmfLine } from '#lib/adapters/local/emf-metrics-reader.ts';
import { trafficView } from '#local/monitoring/dashboard-data.ts';

const T0 = Date.parse('2026-03-01T12:00:00Z');

/** EMF documents as the predict telemetry prints them (one per answer). */
function answer(at: number, version: string, kind: 'ok' | '4xx' | '5xx', latency = 5): EmfLine {
  const _aws = { Timestamp: at, CloudWatchMetrics: [{ Namespace: 'CreditRisk', Metrics: [] }] };
  if (kind === 'ok') return { _aws, modelVersion: version, predictions: 1, predictionLatency: latency };
  return { _aws, modelVersion: version, [kind === '4xx' ? 'clientErrors' : 'serverErrors']: 1 };
}

describe('traffic per model version from EMF documents', () => {
  it('counts answers per version, gives roles from the aliases, the p99 by nearest rank, a series per bucket', () => {
    const docs: EmfLine[] = [
      ...Array.from({ length: 100 }, (_, i) => answer(T0 + i * 1000, 'champ', 'ok', i + 1)),
      answer(T0 + 5_000, 'champ', '4xx'),
      answer(T0 + 70_000, 'champ', '5xx'),
      answer(T0 + 10_000, 'can', 'ok', 3),
      answer(T0 + 20_000, 'old', 'ok', 3),
      // The handler-level metric carries no version: not a version's traffic.
      { _aws: { Timestamp: T0, CloudWatchMetrics: [] }, handledServerErrors: 1 },
    ];
    const view = trafficView(docs, { champion: 'champ', canary: 'can' });
    expect(view.bucketSeconds).toBe(10); // 99 s of traffic: 10 s buckets, at most 60 points
    expect(view.versions.map((v) => [v.modelVersion, v.role])).toEqual([
      ['champ', 'champion'],
      ['can', 'canary'],
      ['old', 'other'],
    ]);
    const champ = view.versions[0];
    expect(champ).toMatchObject({
      requests: 102,
      predictions: 100,
      clientErrors: 1,
      serverErrors: 1,
      p99LatencyMs: 99,
    });
    expect(champ.series.reduce((a, p) => a + p.requests, 0)).toBe(102);
    expect(champ.series).toHaveLength(10);
    expect(champ.series.find((p) => p.at === T0 + 70_000)).toMatchObject({ requests: 11, serverErrors: 1 });
  });

  it('no documents: no versions', () => {
    expect(trafficView([], { champion: null, canary: null }).versions).toEqual([]);
  });
});
