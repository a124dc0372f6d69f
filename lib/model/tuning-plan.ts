import { InputError } from '#lib/errors.ts';
import { Prng } from './gbdt/prng.ts';
import { resolveParams, type GbdtParams } from './gbdt/params.ts';

/**
 * The tuning search as data and one pure step (docs/adr/0145-tuning-by-successive-halving.md):
 * successive halving over configurations drawn from SEARCH_SPACE by a seed, the first one being
 * the defaults. Rung r trains every surviving configuration on a share of the training rows,
 * scores it on the whole validation split (never test) and keeps the best 1/eta for rung r + 1,
 * on eta times the rows; when one is left it is the choice, and the final model is trained with
 * it on all the rows.
 *
 * `planTuning` is the step between rungs. It reads nothing and writes nothing, so the same step
 * runs in the train Lambda between two Map states of the training state machine (the plan mode)
 * and in the in-process loop of `credit-risk train --tune` (lib/model/tuning.ts): the two give
 * the same trials and the same choice for the same seed and table.
 */

export const TUNING_METHOD = 'successive-halving' as const;

/** What the execution input's `tune` (and the CLI's --tune options) may set. */
export interface TuneSettings {
  /** Configurations drawn (the first is the defaults); rung 0 trains each of them. */
  trials: number;
  /** Keep the best 1/eta of a rung; the next rung trains on eta times the rows. */
  eta: number;
  /** Draws the configurations and the rows each rung trains on. */
  seed: number;
  /** Between rungs: past this many seconds since the first plan, choose from the rungs done. */
  budgetSeconds: number | null;
  /** The state machine's Map: trials trained at once (Lambda invocations). */
  maxConcurrency: number;
  /** A trial trains on at least this many rows (all of them when the split has fewer). */
  minTrialRows: number;
}

export const MAX_TRIALS = 81;

export const DEFAULT_TUNE_SETTINGS: TuneSettings = {
  trials: 16,
  eta: 3,
  seed: 42,
  budgetSeconds: null,
  // Each trial is one 10 GB train function; 8 at once keeps a 16-trial rung to two waves.
  maxConcurrency: 8,
  minTrialRows: 5000,
};

/** The GBDT settings searched. Everything else comes from the base params (the config's `train`). */
export const TUNED_KEYS = [
  'numLeaves',
  'learningRate',
  'minDataInLeaf',
  'featureFraction',
  'baggingFraction',
  'lambdaL2',
] as const;
export type TunedKey = (typeof TUNED_KEYS)[number];

export type Dimension =
  | { kind: 'int-log'; low: number; high: number }
  | { kind: 'log'; low: number; high: number }
  | { kind: 'uniform'; low: number; high: number }
  | { kind: 'log-or-zero'; low: number; high: number; zeroShare: number };

export const SEARCH_SPACE: Readonly<Record<TunedKey, Dimension>> = {
  numLeaves: { kind: 'int-log', low: 4, high: 256 },
  learningRate: { kind: 'log', low: 0.02, high: 0.3 },
  minDataInLeaf: { kind: 'int-log', low: 2, high: 400 },
  featureFraction: { kind: 'uniform', low: 0.4, high: 1 },
  baggingFraction: { kind: 'uniform', low: 0.4, high: 1 },
  lambdaL2: { kind: 'log-or-zero', low: 0.001, high: 30, zeroShare: 0.2 },
};

/**
 * Trees a configuration may grow: about 15 / learningRate (300 at the default 0.05), between 100
 * and 750, so a small learning rate is not judged before it had the trees to get anywhere; early
 * stopping on validation still decides how many are kept. A base numTrees caps it.
 */
export function treesFor(learningRate: number, cap?: number): number {
  const trees = Math.min(750, Math.max(100, Math.ceil(15 / learningRate)));
  return cap === undefined ? trees : Math.min(cap, trees);
}

export type TunedParams = Pick<GbdtParams, TunedKey | 'numTrees' | 'baggingFreq'>;

/** One trial: configuration `id` trained at rung `rung` on `fraction` of the training rows. */
export interface TrialSpec {
  id: number;
  rung: number;
  fraction: number;
  /** Seed of the row sample (the same rows for every trial of a rung; each rung's rows hold the last's). */
  sampleSeed: number;
  minTrialRows: number;
  /** The GBDT params of the trial: base params with the configuration over them. */
  params: Partial<GbdtParams>;
}

export interface TrialResult {
  id: number;
  rung: number;
  fraction: number;
  trainRows: number;
  /** It trained on every training row (minTrialRows reached them all): a later rung would repeat it. */
  allRows: boolean;
  validAuc: number;
  validLogloss: number;
  /** Trees kept (early stopping on validation) and built. */
  trees: number;
  treesBuilt: number;
  stopReason: string;
  seconds: number;
}

export interface TuningState {
  settings: TuneSettings;
  base: Partial<GbdtParams>;
  configs: TunedParams[];
  /** Configurations each rung trains (the last entry, 1, is the choice: never trained as a trial). */
  sizes: number[];
  /** The rung the current trials belong to. */
  rung: number;
  history: TrialResult[];
  startedAt: string;
}

export interface TuningChoice {
  id: number;
  /** The rung it won (-1: a single configuration, nothing was trained to choose it). */
  rung: number;
  validAuc: number | null;
  /** The final training's params: base params with the chosen configuration over them. */
  params: Partial<GbdtParams>;
  /** True when the defaults (configuration 0) won. */
  isDefaults: boolean;
}

/** What the card keeps (card.tuning): the method, every trial, the choice. */
export interface TuningRecord {
  method: typeof TUNING_METHOD;
  settings: TuneSettings;
  searchSpace: Readonly<Record<TunedKey, Dimension>>;
  scoredOn: 'validation';
  configs: TunedParams[];
  rungs: { rung: number; fraction: number; configs: number }[];
  trials: TrialResult[];
  chosen: TuningChoice;
  stoppedBy: 'schedule' | 'budget';
  seconds: number;
}

export interface TuningPlan {
  state: TuningState;
  /** The next rung's trials (empty when done). */
  trials: TrialSpec[];
  done: boolean;
  maxConcurrency: number;
  chosen: TuningChoice | null;
  record: TuningRecord | null;
}

export interface PlanRequest {
  /** The execution input's `tune` (every field optional). */
  tune: Partial<Record<keyof TuneSettings, unknown>>;
  /** The config's `train` params (the final training's, and every trial's, base). */
  base: Record<string, unknown>;
  /** The previous plan's state and the results of its trials (absent on the first call). */
  tuning?: { state?: TuningState | null; results?: TrialResult[] | null } | null;
}

/** Settings with defaults filled in and every value checked (InputError BAD_TUNE_SETTINGS). */
export function resolveTuneSettings(tune: Partial<Record<keyof TuneSettings, unknown>> = {}): TuneSettings {
  const out: TuneSettings = { ...DEFAULT_TUNE_SETTINGS };
  for (const [k, v] of Object.entries(tune)) {
    if (!(k in DEFAULT_TUNE_SETTINGS))
      throw new InputError(
        'BAD_TUNE_SETTINGS',
        `unknown tune setting "${k}" (known: ${Object.keys(DEFAULT_TUNE_SETTINGS).join(', ')})`,
      );
    if (v !== undefined) (out as unknown as Record<string, unknown>)[k] = v;
  }
  const check = (ok: boolean, name: string, expected: string) => {
    if (!ok)
      throw new InputError(
        'BAD_TUNE_SETTINGS',
        `tune setting ${name} must be ${expected}, got ${JSON.stringify((out as unknown as Record<string, unknown>)[name])}`,
      );
  };
  const int = (x: unknown, min: number, max = Number.MAX_SAFE_INTEGER) =>
    typeof x === 'number' && Number.isInteger(x) && x >= min && x <= max;
  // The state machine carries every trial's result (twice at the end: the state and the record)
  // in one execution state, which Step Functions caps at 256 KB: 81 configurations stay far below.
  check(int(out.trials, 1, MAX_TRIALS), 'trials', `an integer in [1, ${MAX_TRIALS}]`);
  check(int(out.eta, 2, 10), 'eta', 'an integer in [2, 10]');
  check(int(out.seed, 0), 'seed', 'an integer >= 0');
  check(
    out.budgetSeconds === null || (typeof out.budgetSeconds === 'number' && out.budgetSeconds > 0),
    'budgetSeconds',
    'a number > 0 (or null: no budget)',
  );
  check(int(out.maxConcurrency, 1, 1000), 'maxConcurrency', 'an integer in [1, 1000]');
  check(int(out.minTrialRows, 1), 'minTrialRows', 'an integer >= 1');
  return out;
}

/** How many configurations each rung trains: trials, then /eta (rounded down, at least 1) down to 1. */
export function rungSizes(trials: number, eta: number): number[] {
  const sizes = [trials];
  while (sizes[sizes.length - 1] > 1) sizes.push(Math.max(1, Math.floor(sizes[sizes.length - 1] / eta)));
  return sizes;
}

/** Rung r of R trained rungs trains on eta^-(R - r) of the rows: the last trained rung on 1/eta. */
export function rungFraction(rung: number, trainedRungs: number, eta: number): number {
  return eta ** -(trainedRungs - rung);
}

/** Three significant digits: what a card shows and what the trial trains with. */
function tidy(x: number): number {
  return Number(x.toPrecision(3));
}

function draw(d: Dimension, prng: Prng): number {
  const u = prng.next();
  switch (d.kind) {
    case 'int-log':
      return Math.round(Math.exp(Math.log(d.low) + u * (Math.log(d.high) - Math.log(d.low))));
    case 'log':
      return tidy(Math.exp(Math.log(d.low) + u * (Math.log(d.high) - Math.log(d.low))));
    case 'uniform':
      return tidy(d.low + u * (d.high - d.low));
    case 'log-or-zero': {
      if (u < d.zeroShare) return 0;
      const v = (u - d.zeroShare) / (1 - d.zeroShare);
      return tidy(Math.exp(Math.log(d.low) + v * (Math.log(d.high) - Math.log(d.low))));
    }
  }
}

/** A configuration's full tuned settings: bagging on (every tree) when the fraction is below 1. */
function complete(values: Record<TunedKey, number>, base: Partial<GbdtParams>): TunedParams {
  return {
    ...values,
    numTrees: treesFor(values.learningRate, base.numTrees),
    baggingFreq: values.baggingFraction < 1 ? 1 : 0,
  };
}

/** Configuration 0 is the base params as they are (the defaults); the others are drawn by the seed. */
export function drawConfigs(settings: TuneSettings, base: Partial<GbdtParams>): TunedParams[] {
  const resolved = resolveParams(base);
  const defaults: TunedParams = {
    numLeaves: resolved.numLeaves,
    learningRate: resolved.learningRate,
    minDataInLeaf: resolved.minDataInLeaf,
    featureFraction: resolved.featureFraction,
    baggingFraction: resolved.baggingFraction,
    lambdaL2: resolved.lambdaL2,
    numTrees: resolved.numTrees,
    baggingFreq: resolved.baggingFreq,
  };
  const prng = new Prng(settings.seed);
  const configs = [defaults];
  while (configs.length < settings.trials) {
    const values = {} as Record<TunedKey, number>;
    for (const key of TUNED_KEYS) values[key] = draw(SEARCH_SPACE[key], prng);
    configs.push(complete(values, base));
  }
  return configs;
}

function baseParams(base: Record<string, unknown>): Partial<GbdtParams> {
  // resolveParams names an unknown or bad parameter; the base itself is passed on as given.
  resolveParams(base as Partial<GbdtParams>);
  return base as Partial<GbdtParams>;
}

function specsFor(state: TuningState, ids: number[]): TrialSpec[] {
  const trained = state.sizes.length - 1;
  return ids.map((id) => ({
    id,
    rung: state.rung,
    fraction: rungFraction(state.rung, trained, state.settings.eta),
    sampleSeed: state.settings.seed,
    minTrialRows: state.settings.minTrialRows,
    params: { ...state.base, ...state.configs[id] },
  }));
}

/** Best first: higher validation AUC, then lower validation logloss, then the lower id. */
export function rankTrials(results: readonly TrialResult[]): TrialResult[] {
  const key = (x: number) => (Number.isNaN(x) ? Number.NEGATIVE_INFINITY : x);
  return [...results].sort(
    (a, b) => key(b.validAuc) - key(a.validAuc) || a.validLogloss - b.validLogloss || a.id - b.id,
  );
}

function finish(
  state: TuningState,
  winner: { id: number; rung: number; validAuc: number | null },
  stoppedBy: TuningRecord['stoppedBy'],
  now: Date,
): TuningPlan {
  const chosen: TuningChoice = {
    id: winner.id,
    rung: winner.rung,
    validAuc: winner.validAuc,
    params: { ...state.base, ...state.configs[winner.id] },
    isDefaults: winner.id === 0,
  };
  const trained = state.sizes.length - 1;
  const record: TuningRecord = {
    method: TUNING_METHOD,
    settings: state.settings,
    searchSpace: SEARCH_SPACE,
    scoredOn: 'validation',
    configs: state.configs,
    rungs: state.sizes.slice(0, trained).map((configs, rung) => ({
      rung,
      fraction: rungFraction(rung, trained, state.settings.eta),
      configs,
    })),
    trials: state.history,
    chosen,
    stoppedBy,
    seconds: (now.getTime() - Date.parse(state.startedAt)) / 1000,
  };
  return { state, trials: [], done: true, maxConcurrency: state.settings.maxConcurrency, chosen, record };
}

/**
 * One step of the search. First call (no state): draw the configurations and answer rung 0's
 * trials. Later calls: take the results of the current rung's trials, then answer the next rung's
 * trials, or, when one configuration is left or the budget is spent, the choice and the record.
 */
export function planTuning(request: PlanRequest, now: Date): TuningPlan {
  const previous = request.tuning?.state ?? null;
  if (!previous) {
    const settings = resolveTuneSettings(request.tune);
    const base = baseParams(request.base);
    const state: TuningState = {
      settings,
      base,
      configs: drawConfigs(settings, base),
      sizes: rungSizes(settings.trials, settings.eta),
      rung: 0,
      history: [],
      startedAt: now.toISOString(),
    };
    if (state.sizes.length === 1) return finish(state, { id: 0, rung: -1, validAuc: null }, 'schedule', now);
    return {
      state,
      trials: specsFor(
        state,
        state.configs.map((_, id) => id),
      ),
      done: false,
      maxConcurrency: settings.maxConcurrency,
      chosen: null,
      record: null,
    };
  }
  const results = request.tuning?.results ?? [];
  const expected = previous.sizes[previous.rung];
  const wrong = results.filter((r) => r.rung !== previous.rung);
  if (
    results.length !== expected ||
    wrong.length > 0 ||
    new Set(results.map((r) => r.id)).size !== results.length
  )
    throw new InputError(
      'BAD_TUNING_RESULTS',
      `rung ${previous.rung} expects ${expected} distinct trial results of that rung, got ${results.length}${wrong.length > 0 ? ` (${wrong.length} of rung ${wrong[0].rung})` : ''}`,
    );
  const state: TuningState = { ...previous, history: [...previous.history, ...results] };
  const ranked = rankTrials(results);
  const next = state.rung + 1;
  const trained = state.sizes.length - 1;
  const overBudget =
    state.settings.budgetSeconds !== null &&
    (now.getTime() - Date.parse(state.startedAt)) / 1000 >= state.settings.budgetSeconds;
  // A rung whose trials all trained on every row is as good as the last: the next would repeat them.
  const lastRung = next >= trained || results.every((r) => r.allRows);
  if (lastRung || overBudget) return finish(state, ranked[0], lastRung ? 'schedule' : 'budget', now);
  const survivors = ranked.slice(0, state.sizes[next]).map((r) => r.id);
  const advanced: TuningState = { ...state, rung: next };
  return {
    state: advanced,
    trials: specsFor(
      advanced,
      survivors.sort((a, b) => a - b),
    ),
    done: false,
    maxConcurrency: state.settings.maxConcurrency,
    chosen: null,
    record: null,
  };
}
