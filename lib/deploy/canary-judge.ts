import { InputError } from '#lib/errors.ts';
import type { VersionTraffic } from '#lib/ports/metrics-reader.ts';
import { psi } from '#lib/monitoring/statistics.ts';
import { P99_LATENCY_MS_MAX } from '#lib/monitoring/alarm-thresholds.ts';

/**
 * The canary verdict: after the canary has taken its share of real traffic, compare it with the
 * champion over the same window and decide promote or roll back. Pure: metrics in, decision out,
 * so the same rules run in the canary Lambda, in the local runner and in unit tests.
 *
 * Three things can be wrong with a canary that passed the offline gate:
 * - it fails (5xx): an error rate above an absolute ceiling, or clearly above the champion's;
 * - it is slow: a p99 latency above an absolute ceiling, or well above the champion's;
 * - it answers differently: its score distribution has moved away from the champion's on the
 *   same population (PSI over the ten probability buckets the predict function emits).
 * A canary that saw too little traffic is rolled back: nothing is promoted unobserved.
 */
export interface CanaryThresholds {
  /** Fewer canary requests (answers + 5xx) than this and the verdict is "not enough evidence". */
  minCanaryRequests: number;
  /** The champion needs this many requests for the comparative rules to apply. */
  minChampionRequests: number;
  /** Canary 5xx share may not exceed this, whatever the champion does. */
  maxErrorRate: number;
  /** Canary 5xx share may exceed the champion's by at most this. */
  maxErrorRateRise: number;
  /** Absolute p99 ceiling in ms (the p99 alarm's threshold, lib/monitoring/alarm-thresholds.ts). */
  maxP99LatencyMs: number;
  /** Canary p99 may be at most this multiple of the champion's ... */
  maxP99LatencyRatio: number;
  /** ... unless it is within this many ms of it (sub-ms p99s make ratios meaningless). */
  latencySlackMs: number;
  /** PSI of the canary's score histogram against the champion's, beyond sampling noise. */
  maxScorePsi: number;
}

export const DEFAULT_CANARY_THRESHOLDS: Readonly<CanaryThresholds> = Object.freeze({
  minCanaryRequests: 100,
  minChampionRequests: 100,
  maxErrorRate: 0.01,
  maxErrorRateRise: 0.005,
  maxP99LatencyMs: P99_LATENCY_MS_MAX,
  maxP99LatencyRatio: 2,
  latencySlackMs: 50,
  maxScorePsi: 0.25,
});

export interface CanaryCheck {
  rule: string;
  pass: boolean;
  actual: number | null;
  limit: number | null;
  message: string;
}

export interface CanaryVerdict {
  decision: 'promote' | 'rollback';
  /** One line per failed rule, `<rule>: <explanation>`; empty when promoted. */
  reasons: string[];
  checks: CanaryCheck[];
}

/** Thresholds from a partial object (execution input, env): unknown keys and bad values are refused. */
export function canaryThresholds(overrides: Record<string, unknown> = {}): CanaryThresholds {
  const out: CanaryThresholds = { ...DEFAULT_CANARY_THRESHOLDS };
  for (const [key, value] of Object.entries(overrides)) {
    if (!(key in out)) {
      throw new InputError(
        'UNKNOWN_CANARY_THRESHOLD',
        `unknown canary threshold ${JSON.stringify(key)}; known: ${Object.keys(out).join(', ')}`,
      );
    }
    const n = typeof value === 'string' ? Number(value) : value;
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) {
      throw new InputError(
        'BAD_CANARY_THRESHOLD',
        `canary threshold ${key} must be a number >= 0, got ${JSON.stringify(value)}`,
      );
    }
    out[key as keyof CanaryThresholds] = n;
  }
  return out;
}

export function requests(t: VersionTraffic): number {
  return t.predictions + t.serverErrors;
}

export function errorRate(t: VersionTraffic): number {
  const n = requests(t);
  return n === 0 ? 0 : t.serverErrors / n;
}

/**
 * The PSI two samples of the same distribution reach by chance: PSI is a symmetric divergence
 * whose expectation under "no change" is about (k - 1) (1/n1 + 1/n2) for k occupied buckets. A
 * canary judged on a few hundred requests would otherwise be rolled back for sampling noise.
 */
export function psiNoise(expected: readonly number[], actual: readonly number[]): number {
  const e = expected.reduce((a, b) => a + b, 0);
  const a = actual.reduce((s, b) => s + b, 0);
  if (e === 0 || a === 0) return 0;
  const occupied = expected.filter((x, i) => x > 0 || actual[i] > 0).length;
  return Math.max(0, occupied - 1) * (1 / e + 1 / a);
}

const f = (x: number, digits = 4) => (Number.isFinite(x) ? x.toFixed(digits) : String(x));

export function judgeCanary(
  canary: VersionTraffic,
  champion: VersionTraffic,
  thresholds: CanaryThresholds = DEFAULT_CANARY_THRESHOLDS,
): CanaryVerdict {
  const checks: CanaryCheck[] = [];
  const add = (rule: string, pass: boolean, actual: number | null, limit: number | null, message: string) =>
    checks.push({ rule, pass, actual, limit, message });

  const nCanary = requests(canary);
  add(
    'canary_traffic',
    nCanary >= thresholds.minCanaryRequests,
    nCanary,
    thresholds.minCanaryRequests,
    `canary answered ${nCanary} requests; at least ${thresholds.minCanaryRequests} are needed to judge it`,
  );

  const canaryErrors = errorRate(canary);
  add(
    'canary_error_rate',
    canaryErrors <= thresholds.maxErrorRate,
    canaryErrors,
    thresholds.maxErrorRate,
    `canary 5xx rate ${f(canaryErrors)} (${canary.serverErrors}/${nCanary}); ceiling ${f(thresholds.maxErrorRate)}`,
  );
  if (canary.p99LatencyMs !== null) {
    add(
      'canary_p99_latency',
      canary.p99LatencyMs <= thresholds.maxP99LatencyMs,
      canary.p99LatencyMs,
      thresholds.maxP99LatencyMs,
      `canary p99 ${f(canary.p99LatencyMs, 1)} ms; ceiling ${thresholds.maxP99LatencyMs} ms`,
    );
  }

  const comparable = requests(champion) >= thresholds.minChampionRequests;
  if (comparable) {
    const championErrors = errorRate(champion);
    const rise = canaryErrors - championErrors;
    add(
      'error_rate_vs_champion',
      rise <= thresholds.maxErrorRateRise,
      rise,
      thresholds.maxErrorRateRise,
      `canary 5xx rate ${f(canaryErrors)} vs champion ${f(championErrors)}: +${f(rise)}, at most +${f(thresholds.maxErrorRateRise)}`,
    );
    if (canary.p99LatencyMs !== null && champion.p99LatencyMs !== null) {
      const limit = Math.max(
        champion.p99LatencyMs * thresholds.maxP99LatencyRatio,
        champion.p99LatencyMs + thresholds.latencySlackMs,
      );
      add(
        'p99_latency_vs_champion',
        canary.p99LatencyMs <= limit,
        canary.p99LatencyMs,
        limit,
        `canary p99 ${f(canary.p99LatencyMs, 1)} ms vs champion ${f(champion.p99LatencyMs, 1)} ms; limit ${f(limit, 1)} ms`,
      );
    }
    if (canary.predictions > 0 && champion.predictions > 0) {
      const value = psi(champion.scoreHistogram, canary.scoreHistogram);
      const limit = thresholds.maxScorePsi + psiNoise(champion.scoreHistogram, canary.scoreHistogram);
      add(
        'score_psi_vs_champion',
        value <= limit,
        value,
        limit,
        `score distribution PSI ${f(value)} against the champion's; limit ${f(limit)} (${thresholds.maxScorePsi} + sampling noise)`,
      );
    }
  }

  const failed = checks.filter((c) => !c.pass);
  return {
    decision: failed.length === 0 ? 'promote' : 'rollback',
    reasons: failed.map((c) => `${c.rule}: ${c.message}`),
    checks,
  };
}
