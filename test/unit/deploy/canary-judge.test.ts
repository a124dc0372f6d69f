import { describe, expect, it } from '@jest/globals';
import {
  canaryThresholds,
  DEFAULT_CANARY_THRESHOLDS,
  judgeCanary,
  psiNoise,
} from '#lib/deploy/canary-judge.ts';
import { psi } from '#lib/monitoring/statistics.ts';
import type { VersionTraffic } from '#lib/ports/metrics-reader.ts';

const CHAMPION_HISTOGRAM = [400, 250, 150, 80, 50, 30, 20, 10, 6, 4];

function traffic(over: Partial<VersionTraffic> = {}): VersionTraffic {
  return {
    modelVersion: 'v',
    predictions: 1000,
    serverErrors: 0,
    p99LatencyMs: 12,
    scoreHistogram: [...CHAMPION_HISTOGRAM],
    ...over,
  };
}

/** A canary sample of n requests drawn in the champion's proportions. */
function likeChampion(n: number): number[] {
  const total = CHAMPION_HISTOGRAM.reduce((a, b) => a + b, 0);
  return CHAMPION_HISTOGRAM.map((c) => Math.round((c * n) / total));
}

describe('canary judge', () => {
  it('promotes a canary that answers like the champion', () => {
    const v = judgeCanary(
      traffic({ predictions: 150, scoreHistogram: likeChampion(150), p99LatencyMs: 14 }),
      traffic(),
    );
    expect(v).toMatchObject({ decision: 'promote', reasons: [] });
    expect(v.checks.map((c) => c.rule)).toEqual([
      'canary_traffic',
      'canary_error_rate',
      'canary_p99_latency',
      'error_rate_vs_champion',
      'p99_latency_vs_champion',
      'score_psi_vs_champion',
    ]);
  });

  it('rolls back a canary that throws on every request', () => {
    const v = judgeCanary(
      traffic({ predictions: 0, serverErrors: 150, p99LatencyMs: null, scoreHistogram: Array(10).fill(0) }),
      traffic(),
    );
    expect(v.decision).toBe('rollback');
    expect(v.reasons.map((r) => r.split(':')[0])).toEqual(['canary_error_rate', 'error_rate_vs_champion']);
  });

  it('rolls back a canary whose 5xx rate is small but clearly above the champion', () => {
    const v = judgeCanary(
      traffic({ predictions: 990, serverErrors: 9, scoreHistogram: likeChampion(990) }),
      traffic({ serverErrors: 0 }),
      { ...DEFAULT_CANARY_THRESHOLDS, maxErrorRate: 0.05 },
    );
    expect(v.decision).toBe('rollback');
    expect(v.reasons[0]).toMatch(/^error_rate_vs_champion:/);
  });

  it('rolls back a much slower canary and keeps one within the latency slack', () => {
    const slow = judgeCanary(
      traffic({ p99LatencyMs: 320, scoreHistogram: likeChampion(1000) }),
      traffic({ p99LatencyMs: 15 }),
    );
    expect(slow.decision).toBe('rollback');
    expect(slow.reasons.map((r) => r.split(':')[0])).toEqual(['p99_latency_vs_champion']);
    // 3x the champion but only 20 ms more: noise at these latencies, not a regression.
    const fine = judgeCanary(
      traffic({ p99LatencyMs: 30, scoreHistogram: likeChampion(1000) }),
      traffic({ p99LatencyMs: 10 }),
    );
    expect(fine.decision).toBe('promote');
  });

  it('rolls back a canary above the absolute p99 ceiling even when the champion is as slow', () => {
    const v = judgeCanary(traffic({ p99LatencyMs: 800 }), traffic({ p99LatencyMs: 790 }));
    expect(v.reasons.map((r) => r.split(':')[0])).toEqual(['canary_p99_latency']);
  });

  it('rolls back a canary whose scores moved away from the champion', () => {
    const inverted = [...likeChampion(300)].reverse();
    const v = judgeCanary(traffic({ predictions: 300, scoreHistogram: inverted }), traffic());
    expect(v.decision).toBe('rollback');
    expect(v.reasons[0]).toMatch(/^score_psi_vs_champion: score distribution PSI \d/);
  });

  it('never promotes a canary that saw too little traffic', () => {
    const v = judgeCanary(traffic({ predictions: 20, scoreHistogram: likeChampion(20) }), traffic());
    expect(v.decision).toBe('rollback');
    expect(v.reasons[0]).toMatch(/^canary_traffic: canary answered 20 requests/);
  });

  it('skips the comparative rules when the champion saw too little traffic', () => {
    const v = judgeCanary(traffic(), traffic({ predictions: 5 }));
    expect(v.decision).toBe('promote');
    expect(v.checks.map((c) => c.rule)).toEqual([
      'canary_traffic',
      'canary_error_rate',
      'canary_p99_latency',
    ]);
  });
});

describe('psi', () => {
  it('is zero for identical proportions and grows with the shift', () => {
    expect(psi([10, 20, 30], [20, 40, 60])).toBeCloseTo(0, 12);
    const small = psi([50, 50], [55, 45]);
    const large = psi([50, 50], [90, 10]);
    expect(small).toBeGreaterThan(0);
    expect(large).toBeGreaterThan(small * 10);
  });

  it('stays finite when a bucket is empty on one side', () => {
    expect(Number.isFinite(psi([10, 0], [5, 5]))).toBe(true);
  });

  it('allows for the sampling noise of small samples', () => {
    expect(psiNoise([50, 50, 0], [5, 5, 0])).toBeCloseTo(1 * (1 / 100 + 1 / 10), 12);
  });
});

describe('canaryThresholds', () => {
  it('overrides known thresholds from numbers or numeric strings', () => {
    expect(canaryThresholds({ minCanaryRequests: '20', maxScorePsi: 0.5 })).toMatchObject({
      minCanaryRequests: 20,
      maxScorePsi: 0.5,
    });
  });

  it('refuses unknown names and non-numbers with a code', () => {
    expect(() => canaryThresholds({ maxP99: 1 })).toThrow(
      expect.objectContaining({ code: 'UNKNOWN_CANARY_THRESHOLD' }),
    );
    expect(() => canaryThresholds({ maxErrorRate: 'high' })).toThrow(
      expect.objectContaining({ code: 'BAD_CANARY_THRESHOLD' }),
    );
  });
});
