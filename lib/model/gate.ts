import { InputError } from '#lib/errors.ts';
import type { FairnessReport } from './fairness.ts';
import type { BinaryMetrics } from './metrics.ts';

/**
 * The quality gate between "trained" and "registered". Its decision is data for a Step Functions
 * Choice state: `{ pass, reasons, checks }`. Each reason starts with a stable rule code
 * (`auc_below_floor: ...`) so a state machine or a person can match on it.
 *
 * Two kinds of rule:
 * - absolute floors on the challenger's test metrics (a model that fails them is not worth
 *   serving, whatever the champion does);
 * - challenger versus champion, both scored on the SAME test rows (otherwise the comparison says
 *   more about the split than the model); a champion measured on other rows fails the gate.
 *
 * And two from the candidate's card (docs/adr/0141-baseline-and-fairness-gate-rules.md): the GBDT
 * must beat the logistic baseline measured on the same test rows by `baselineAucMargin`, and each
 * protected attribute's adverse impact ratio is held to `minAdverseImpactRatio` (the four-fifths
 * rule): a flag by default (a check that shows in `flags`, not a failure), a failure with
 * `fairnessMode: "fail"`.
 */
export interface GateConfig {
  /** Lowest acceptable test ROC AUC. */
  minAuc: number;
  /** Highest acceptable expected calibration error (probabilities are served, not only labels). */
  maxEce: number;
  /** Lowest acceptable KS: the score must separate the classes somewhere. */
  minKs: number;
  /** Fewer test rows or positives than this and the metrics are noise: the gate refuses. */
  minTestRows: number;
  minTestPositives: number;
  /** The challenger's Brier score must beat always predicting the test base rate. */
  requireBrierBeatsBaseRate: boolean;
  /** Challenger AUC may be at most this much below the champion's. */
  maxAucDrop: number;
  /** Challenger ECE may be at most this much above the champion's. */
  maxEceRise: number;
  /** The challenger's test AUC must exceed the logistic baseline's by more than this (may be < 0). */
  baselineAucMargin: number;
  /** Lowest acceptable adverse impact ratio of each protected attribute (four-fifths rule). */
  minAdverseImpactRatio: number;
  /** "flag": an adverse impact ratio below the floor is reported; "fail": it fails the gate. */
  fairnessMode: 'flag' | 'fail';
}

export const DEFAULT_GATE_CONFIG: Readonly<GateConfig> = Object.freeze({
  minAuc: 0.6,
  maxEce: 0.05,
  minKs: 0.1,
  minTestRows: 200,
  minTestPositives: 20,
  requireBrierBeatsBaseRate: true,
  maxAucDrop: 0.005,
  maxEceRise: 0.02,
  baselineAucMargin: 0,
  minAdverseImpactRatio: 0.8,
  fairnessMode: 'flag',
});

export interface GateCheck {
  rule: string;
  pass: boolean;
  actual: number | null;
  limit: number | null;
  message: string;
  /** "flag": a check that does not pass is reported in `flags` but does not fail the gate. */
  severity?: 'flag';
}

/** What the gate reads from the candidate's card besides its test metrics. */
export interface GateFacts {
  /** The logistic baseline's test AUC on the same rows (card baseline.metrics.test.auc). */
  baselineAuc?: number | null;
  /** The card's fairness section. */
  fairness?: Partial<FairnessReport> | null;
}

export interface GateDecision {
  pass: boolean;
  /** One line per failed rule, `<rule>: <explanation>`; empty when the gate passes. */
  reasons: string[];
  /** One line per flagged rule (did not pass, does not fail the gate), same form as reasons. */
  flags?: string[];
  /** Every rule evaluated, passed or not, for the report and the audit trail. */
  checks: GateCheck[];
}

const f4 = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : String(x));

export function evaluateGate(
  challenger: BinaryMetrics,
  champion: BinaryMetrics | undefined | null,
  config: Partial<GateConfig> = {},
  facts: GateFacts = {},
): GateDecision {
  const c: GateConfig = { ...DEFAULT_GATE_CONFIG, ...config };
  const checks: GateCheck[] = [];
  const check = (rule: string, pass: boolean, actual: number | null, limit: number | null, message: string) =>
    checks.push({ rule, pass, actual, limit, message });

  check(
    'too_few_test_rows',
    challenger.n >= c.minTestRows,
    challenger.n,
    c.minTestRows,
    `${challenger.n} test rows, need at least ${c.minTestRows}`,
  );
  check(
    'too_few_test_positives',
    challenger.positives >= c.minTestPositives,
    challenger.positives,
    c.minTestPositives,
    `${challenger.positives} positive test rows, need at least ${c.minTestPositives}`,
  );
  // NaN comparisons are false, so an undefined AUC (single class) fails the floor.
  check(
    'auc_below_floor',
    challenger.auc >= c.minAuc,
    finite(challenger.auc),
    c.minAuc,
    `auc ${f4(challenger.auc)}, floor ${f4(c.minAuc)}`,
  );
  check(
    'ks_below_floor',
    challenger.ks >= c.minKs,
    finite(challenger.ks),
    c.minKs,
    `ks ${f4(challenger.ks)}, floor ${f4(c.minKs)}`,
  );
  check(
    'ece_above_ceiling',
    challenger.ece <= c.maxEce,
    finite(challenger.ece),
    c.maxEce,
    `ece ${f4(challenger.ece)}, ceiling ${f4(c.maxEce)}`,
  );
  if (c.requireBrierBeatsBaseRate) {
    const rate = challenger.n > 0 ? challenger.positives / challenger.n : 0;
    const baseRateBrier = rate * (1 - rate);
    check(
      'brier_not_better_than_base_rate',
      challenger.brier < baseRateBrier,
      finite(challenger.brier),
      baseRateBrier,
      `brier ${f4(challenger.brier)}, always predicting the base rate ${f4(rate)} scores ${f4(baseRateBrier)}`,
    );
  }

  if (typeof facts.baselineAuc === 'number') {
    const lead = challenger.auc - facts.baselineAuc;
    check(
      'auc_not_above_baseline',
      lead > c.baselineAucMargin,
      finite(challenger.auc),
      finite(facts.baselineAuc + c.baselineAucMargin),
      `auc ${f4(challenger.auc)} vs logistic baseline ${f4(facts.baselineAuc)} on the same test rows (lead ${f4(lead)}, must exceed ${f4(c.baselineAucMargin)}): the simpler model does as well`,
    );
  }
  for (const [attribute, f] of Object.entries(facts.fairness ?? {})) {
    const air = f?.adverseImpactRatio;
    if (typeof air !== 'number') continue;
    const lo = f?.lowestApproval;
    const hi = f?.highestApproval;
    checks.push({
      rule: 'adverse_impact_ratio_below_floor',
      pass: air >= c.minAdverseImpactRatio,
      actual: air,
      limit: c.minAdverseImpactRatio,
      message: `${attribute}: adverse impact ratio ${f4(air)} (approval ${lo ? `${f4(lo.rate)} for ${lo.group}` : 'n/a'} vs ${hi ? `${f4(hi.rate)} for ${hi.group}` : 'n/a'}), floor ${f4(c.minAdverseImpactRatio)}`,
      ...(c.fairnessMode === 'flag' ? { severity: 'flag' as const } : {}),
    });
  }

  if (champion) {
    const sameRows = champion.n === challenger.n && champion.positives === challenger.positives;
    check(
      'champion_not_comparable',
      sameRows,
      champion.n,
      challenger.n,
      `champion scored on ${champion.n} rows (${champion.positives} positive), challenger on ${challenger.n} (${challenger.positives}); both must use the same test split`,
    );
    if (sameRows) {
      const aucDrop = champion.auc - challenger.auc;
      check(
        'auc_worse_than_champion',
        Number.isFinite(aucDrop) ? aucDrop <= c.maxAucDrop : Number.isFinite(challenger.auc),
        finite(challenger.auc),
        finite(champion.auc - c.maxAucDrop),
        `auc ${f4(challenger.auc)} vs champion ${f4(champion.auc)} (drop ${f4(aucDrop)}, allowed ${f4(c.maxAucDrop)})`,
      );
      const eceRise = challenger.ece - champion.ece;
      check(
        'ece_worse_than_champion',
        eceRise <= c.maxEceRise,
        finite(challenger.ece),
        finite(champion.ece + c.maxEceRise),
        `ece ${f4(challenger.ece)} vs champion ${f4(champion.ece)} (rise ${f4(eceRise)}, allowed ${f4(c.maxEceRise)})`,
      );
    }
  }

  const failed = checks.filter((x) => !x.pass && x.severity !== 'flag');
  const flagged = checks.filter((x) => !x.pass && x.severity === 'flag');
  return {
    pass: failed.length === 0,
    reasons: failed.map((x) => `${x.rule}: ${x.message}`),
    flags: flagged.map((x) => `${x.rule}: ${x.message}`),
    checks,
  };
}

function finite(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

const ENV_KEYS: Record<keyof GateConfig, string> = {
  minAuc: 'GATE_MIN_AUC',
  maxEce: 'GATE_MAX_ECE',
  minKs: 'GATE_MIN_KS',
  minTestRows: 'GATE_MIN_TEST_ROWS',
  minTestPositives: 'GATE_MIN_TEST_POSITIVES',
  requireBrierBeatsBaseRate: 'GATE_REQUIRE_BRIER_BEATS_BASE_RATE',
  maxAucDrop: 'GATE_MAX_AUC_DROP',
  maxEceRise: 'GATE_MAX_ECE_RISE',
  baselineAucMargin: 'GATE_BASELINE_AUC_MARGIN',
  minAdverseImpactRatio: 'GATE_MIN_ADVERSE_IMPACT_RATIO',
  fairnessMode: 'GATE_FAIRNESS_MODE',
};

/**
 * Gate settings from the environment (`GATE_MIN_AUC=0.65`, ...) overlaid by explicit parameters
 * (a state-machine input or CLI flags), over the defaults. A bad value is an InputError naming it.
 */
export function gateConfig(
  env: Record<string, string | undefined> = {},
  params: Partial<Record<keyof GateConfig, unknown>> = {},
): GateConfig {
  const out: GateConfig = { ...DEFAULT_GATE_CONFIG };
  for (const key of Object.keys(ENV_KEYS) as (keyof GateConfig)[]) {
    const fromEnv = env[ENV_KEYS[key]];
    const raw = params[key] ?? (fromEnv === undefined || fromEnv === '' ? undefined : fromEnv);
    if (raw === undefined) continue;
    const source = params[key] !== undefined ? `gate parameter ${key}` : `${ENV_KEYS[key]}`;
    if (key === 'requireBrierBeatsBaseRate') {
      if (raw === true || raw === 'true' || raw === '1') out[key] = true;
      else if (raw === false || raw === 'false' || raw === '0') out[key] = false;
      else
        throw new InputError(
          'BAD_GATE_CONFIG',
          `${source} must be true or false, got ${JSON.stringify(raw)}`,
        );
      continue;
    }
    if (key === 'fairnessMode') {
      if (raw !== 'flag' && raw !== 'fail')
        throw new InputError(
          'BAD_GATE_CONFIG',
          `${source} must be "flag" or "fail", got ${JSON.stringify(raw)}`,
        );
      out[key] = raw;
      continue;
    }
    const value = typeof raw === 'number' ? raw : typeof raw === 'string' ? Number(raw) : Number.NaN;
    if (key === 'baselineAucMargin' && Number.isFinite(value)) {
      // A negative margin lets the GBDT trail the baseline by that much (-1 switches the rule off).
      out[key] = value;
      continue;
    }
    if (!Number.isFinite(value) || value < 0) {
      throw new InputError('BAD_GATE_CONFIG', `${source} must be a number >= 0, got ${JSON.stringify(raw)}`);
    }
    out[key] = value;
  }
  return out;
}
