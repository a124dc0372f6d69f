import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EXPLAINER_DIGEST_KEY,
  EXPLAINER_FILE,
  encodeExplainer,
  explainerDigest,
} from '#lib/model/explainer-artifact.ts';
import { trainGbdt, type GbdtModel } from '#lib/model/gbdt/booster.ts';
import { exportOnnx } from '#lib/model/onnx-export.ts';
import { syntheticTable } from '../unit/model/synthetic-data.ts';

/**
 * A small real GBDT over five online features (the synthetic credit table, lib/model trainer,
 * lib/model ONNX export) with the files a registered version has: model.onnx naming its
 * explainer.json by sha256, explainer.json, and a card with the fields serving reads (features,
 * threshold, reference means). For tests of loading, building and serving explanations.
 */
export interface ExplainedModelFiles {
  model: Uint8Array;
  explainer: Uint8Array;
  card: { features: string[]; threshold: number; reference: { feature: string; mean: number | null }[] };
  gbdt: GbdtModel;
  /** model.onnx of the same trees without the explainer digest: a version from before explanations. */
  modelWithoutDigest: Uint8Array;
}

export const EXPLAINED_FEATURES = [
  'age',
  'nb_previous_loans',
  'avg_amount_loans_previous',
  'years_on_the_job',
  'flag_own_car',
];

export async function explainedModelFiles(trees = 12, seed = 5): Promise<ExplainedModelFiles> {
  const table = syntheticTable(3000, seed);
  const columns = table.columns.slice(0, EXPLAINED_FEATURES.length);
  const gbdt = (
    await trainGbdt(
      { numRows: table.numRows, columns, label: table.label },
      { params: { numTrees: trees, numThreads: 1, earlyStoppingRounds: 0 } },
    )
  ).model;
  const explainer = encodeExplainer(gbdt, EXPLAINED_FEATURES);
  const threshold = 0.2;
  const model = exportOnnx(gbdt, {
    featureNames: EXPLAINED_FEATURES,
    threshold,
    metadata: { name: 'credit-risk', [EXPLAINER_DIGEST_KEY]: explainerDigest(explainer) },
  });
  const modelWithoutDigest = exportOnnx(gbdt, {
    featureNames: EXPLAINED_FEATURES,
    threshold,
    metadata: { name: 'credit-risk' },
  });
  const reference = EXPLAINED_FEATURES.map((feature, f) => {
    let sum = 0;
    let n = 0;
    for (const v of columns[f])
      if (Number.isFinite(v)) {
        sum += v;
        n++;
      }
    return { feature, mean: n > 0 ? sum / n : null };
  });
  return {
    model,
    explainer,
    card: { features: EXPLAINED_FEATURES, threshold, reference },
    gbdt,
    modelWithoutDigest,
  };
}

/** A model directory as `credit-risk train --out DIR` writes it (report.html a stub). */
export function writeExplainedModelDir(
  files: ExplainedModelFiles,
  options: { explainer?: boolean; dir?: string } = {},
): string {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'cr-explained-'));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.onnx'), files.model);
  writeFileSync(join(dir, 'card.json'), `${JSON.stringify(files.card)}\n`);
  writeFileSync(join(dir, 'report.html'), '<p>report</p>\n');
  if (options.explainer !== false) writeFileSync(join(dir, EXPLAINER_FILE), files.explainer);
  return dir;
}
