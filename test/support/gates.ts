/**
 * Quality gates for tests that run the pipeline on a few thousand generated rows: they test the
 * CLI and the state machine, not the model. A few trees on that little data can lose to the
 * logistic baseline, hence `baselineAucMargin: -1` (the baseline rule has its own test:
 * test/integration/model/governance.test.ts).
 */
export const SMALL_RUN_GATE = {
  requireBrierBeatsBaseRate: false,
  baselineAucMargin: -1,
  maxEce: 0.3,
  minAuc: 0.5,
  minTestPositives: 1,
  minTestRows: 50,
  maxAucDrop: 1,
} as const;

/** A gate any trained model passes: the fault-injection runs fail on purpose elsewhere. */
export const ANY_MODEL_GATE = { ...SMALL_RUN_GATE, maxEce: 1, minAuc: 0 } as const;
