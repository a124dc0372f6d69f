import { InputError } from '#lib/errors.ts';
import { getJson, type ObjectStore } from '#lib/ports/object-store.ts';
import { evaluateGate, type GateConfig, type GateDecision, type GateFacts } from '#lib/model/gate.ts';
import { EXPLAINER_FILE } from '#lib/model/explainer-artifact.ts';
import { binaryMetrics, type BinaryMetrics } from '#lib/model/metrics.ts';
import type { ModelArtifacts, ModelCardJson, ModelRegistry } from './registry.ts';
import { sha256Hex } from './registry.ts';

/**
 * The staging area between the train, evaluate and register steps of the training pipeline:
 *
 *   candidates/<version>/model.onnx, card.json, report.html   what `credit-risk train` writes
 *   candidates/<version>/explainer.json                       when the model has one
 *   candidates/<version>/test-set.json                        n, labels, challenger scores, column names
 *   candidates/<version>/test-set.f32                         the test rows, column-major float32, NaN = missing
 *
 * The test rows travel with the candidate so the evaluate step can score the CHAMPION on exactly
 * the rows the challenger was measured on (a fair comparison needs the same rows), including
 * columns the challenger does not use but an older champion might. Keyed by the model's sha256:
 * re-running a step rewrites the same bytes (idempotent). Nothing here is "registered".
 */
export const CANDIDATE_PREFIX = 'candidates';

export interface TestSet {
  /** Every numeric column of the test split, by name (NaN = missing). */
  columns: Record<string, Float32Array>;
  y: ArrayLike<number>;
  /** The challenger's probabilities on these rows. */
  p: ArrayLike<number>;
}

interface TestSetHeader {
  n: number;
  columns: string[];
  y: number[];
  p: number[];
}

export interface Candidate extends ModelArtifacts {
  key: string;
  version: string;
  cardJson: ModelCardJson;
  testSet: TestSet;
}

export function candidateKey(version: string): string {
  return `${CANDIDATE_PREFIX}/${version}`;
}

export async function stageCandidate(
  store: ObjectStore,
  artifacts: ModelArtifacts,
  testSet: TestSet,
): Promise<{ candidateKey: string; version: string }> {
  const version = sha256Hex(artifacts.model);
  const key = candidateKey(version);
  const names = Object.keys(testSet.columns);
  const n = testSet.y.length;
  if (testSet.p.length !== n) throw new RangeError(`test set has ${n} labels but ${testSet.p.length} scores`);
  const matrix = new Float32Array(n * names.length);
  names.forEach((name, j) => {
    const col = testSet.columns[name];
    if (col.length !== n) throw new RangeError(`test column ${name} has ${col.length} values for ${n} rows`);
    matrix.set(col, j * n);
  });
  const header: TestSetHeader = { n, columns: names, y: Array.from(testSet.y), p: Array.from(testSet.p) };
  // The model last: a reader that finds model.onnx finds everything else too.
  await store.put(`${key}/test-set.f32`, new Uint8Array(matrix.buffer, matrix.byteOffset, matrix.byteLength));
  await store.put(`${key}/test-set.json`, JSON.stringify(header), { contentType: 'application/json' });
  await store.put(`${key}/report.html`, artifacts.report, { contentType: 'text/html; charset=utf-8' });
  await store.put(`${key}/card.json`, artifacts.card, { contentType: 'application/json' });
  if (artifacts.explainer) {
    await store.put(`${key}/${EXPLAINER_FILE}`, artifacts.explainer, { contentType: 'application/json' });
  }
  await store.put(`${key}/model.onnx`, artifacts.model, { contentType: 'application/octet-stream' });
  return { candidateKey: key, version };
}

export async function loadCandidate(store: ObjectStore, key: string): Promise<Candidate> {
  const clean = key.replace(/\/+$/, '');
  const get = async (file: string) => {
    const bytes = await store.get(`${clean}/${file}`);
    if (!bytes)
      throw new InputError(
        'UNKNOWN_CANDIDATE',
        `no candidate at ${store.describe(clean)}: ${file} is missing`,
      );
    return bytes;
  };
  const model = await get('model.onnx');
  const card = await get('card.json');
  const report = await get('report.html');
  const explainer = await store.get(`${clean}/${EXPLAINER_FILE}`);
  const header = await getJson<TestSetHeader>(store, `${clean}/test-set.json`);
  const raw = await get('test-set.f32');
  if (!header)
    throw new InputError(
      'UNKNOWN_CANDIDATE',
      `no candidate at ${store.describe(clean)}: test-set.json is missing`,
    );
  const matrix = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  if (matrix.length !== header.n * header.columns.length) {
    throw new Error(
      `${store.describe(`${clean}/test-set.f32`)} holds ${matrix.length} values, expected ${header.n} x ${header.columns.length}`,
    );
  }
  const columns: Record<string, Float32Array> = {};
  header.columns.forEach((name, j) => (columns[name] = matrix.subarray(j * header.n, (j + 1) * header.n)));
  const version = sha256Hex(model);
  return {
    key: clean,
    version,
    model,
    card,
    report,
    ...(explainer ? { explainer } : {}),
    cardJson: JSON.parse(new TextDecoder().decode(card)) as ModelCardJson,
    testSet: { columns, y: header.y, p: header.p },
  };
}

/** Scores rows (row-major float32 [n, features], NaN = missing) with an ONNX model; returns P(y=1). */
export type OnnxScorer = (
  model: Uint8Array,
  rows: Float32Array,
  n: number,
  features: number,
) => Promise<Float64Array>;

export interface CardEssentials {
  threshold: number;
  features: string[];
}

/** The two card fields evaluation needs: the decision threshold and the model's input order. */
export function cardEssentials(card: ModelCardJson, where: string): CardEssentials {
  const threshold = card.threshold;
  const features = card.features ?? card.featureNames;
  if (typeof threshold !== 'number' || !Number.isFinite(threshold)) {
    throw new InputError('BAD_MODEL_CARD', `${where}: card.json has no numeric "threshold"`);
  }
  if (!Array.isArray(features) || !features.every((f) => typeof f === 'string')) {
    throw new InputError(
      'BAD_MODEL_CARD',
      `${where}: card.json has no "features" list (names in model input order)`,
    );
  }
  return { threshold, features: features as string[] };
}

export interface Evaluation {
  gate: GateDecision;
  challenger: BinaryMetrics;
  champion: BinaryMetrics | null;
  championVersion: string | null;
}

/** The champion's scores on the candidate's test rows and its threshold (not part of the step's output). */
export interface ChampionScores {
  championScores: Float64Array | null;
  championThreshold: number | null;
}

/** The gate's facts from a candidate's card: its baseline's test AUC and its fairness section. */
export function gateFactsOf(card: ModelCardJson): GateFacts {
  const baseline = card.baseline as { metrics?: { test?: { auc?: unknown } } } | undefined;
  const auc = baseline?.metrics?.test?.auc;
  const fairness = card.fairness;
  return {
    baselineAuc: typeof auc === 'number' && Number.isFinite(auc) ? auc : null,
    fairness: fairness && typeof fairness === 'object' ? (fairness as GateFacts['fairness']) : null,
  };
}

/**
 * Challenger versus champion on the candidate's test rows, then the gate. The challenger's scores
 * come from training; the champion is scored here with `score` on the same rows. A champion that
 * cannot be scored on them (it needs a column this snapshot lacks) fails the gate: a person
 * decides, with `credit-risk models promote`, rather than the pipeline replacing it blind.
 */
export async function evaluateCandidate(deps: {
  registry: ModelRegistry;
  candidate: Candidate;
  score: OnnxScorer;
  gate?: Partial<GateConfig>;
}): Promise<Evaluation & ChampionScores> {
  const { registry, candidate } = deps;
  const { y, p, columns } = candidate.testSet;
  const mine = cardEssentials(candidate.cardJson, `candidate ${candidate.key}`);
  const challenger = binaryMetrics(y, p, mine.threshold);
  const facts = gateFactsOf(candidate.cardJson);
  const championVersion = (await registry.aliases()).champion;
  if (!championVersion || championVersion === candidate.version) {
    return {
      gate: evaluateGate(challenger, undefined, deps.gate, facts),
      challenger,
      champion: null,
      championVersion,
      championScores: null,
      championThreshold: null,
    };
  }
  const { card } = await registry.card(championVersion);
  const theirs = cardEssentials(card, `champion ${championVersion}`);
  const missing = theirs.features.filter((f) => !(f in columns));
  if (missing.length > 0) {
    const gate = evaluateGate(challenger, undefined, deps.gate, facts);
    const message = `champion ${championVersion.slice(0, 12)} needs ${missing.join(', ')}, absent from this test set: it cannot be scored on the same rows`;
    gate.checks.push({ rule: 'champion_not_comparable', pass: false, actual: null, limit: null, message });
    gate.reasons.push(`champion_not_comparable: ${message}`);
    gate.pass = false;
    return {
      gate,
      challenger,
      champion: null,
      championVersion,
      championScores: null,
      championThreshold: null,
    };
  }
  const modelBytes = await registry.modelBytes(championVersion);
  const n = y.length;
  const f = theirs.features.length;
  const rows = new Float32Array(n * f);
  theirs.features.forEach((name, j) => {
    const col = columns[name];
    for (let i = 0; i < n; i++) rows[i * f + j] = col[i];
  });
  const championScores = await deps.score(modelBytes, rows, n, f);
  const champion = binaryMetrics(y, championScores, theirs.threshold);
  return {
    gate: evaluateGate(challenger, champion, deps.gate, facts),
    challenger,
    champion,
    championVersion,
    championScores,
    championThreshold: theirs.threshold,
  };
}
