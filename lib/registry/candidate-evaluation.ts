import { championSection, withChampionSection } from '#lib/model/report.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';
import { cardEssentials, type Candidate, type ChampionScores, type Evaluation } from './candidate.ts';

/**
 * What the evaluate step adds to a staged candidate (docs/adr/0144-credit-views-champion-column-and-compare.md):
 * card.json gets `evaluation` (the gate's decision with its reasons and flags, the champion it was
 * measured against, both models' test metrics on the same rows) and report.html gets its champion
 * section (the champion column) filled in. The register step copies both into the registry, so a
 * registered model's card says which gate it passed and why; a rejected candidate's says why not.
 * The bytes depend only on the candidate and the champion (no clock): a re-run rewrites them equal.
 */
export interface CardEvaluation {
  championVersion: string | null;
  gate: Evaluation['gate'];
  challenger: MetricsSummary;
  champion: MetricsSummary | null;
}

interface MetricsSummary {
  n: number;
  positives: number;
  auc: number;
  ks: number;
  brier: number;
  logloss: number;
  ece: number;
}

const summary = (m: Evaluation['challenger']): MetricsSummary => ({
  n: m.n,
  positives: m.positives,
  auc: m.auc,
  ks: m.ks,
  brier: m.brier,
  logloss: m.logloss,
  ece: m.ece,
});

export async function recordEvaluation(
  store: ObjectStore,
  candidate: Candidate,
  evaluation: Evaluation & ChampionScores,
): Promise<CardEvaluation> {
  const record: CardEvaluation = {
    championVersion: evaluation.championVersion,
    gate: evaluation.gate,
    challenger: summary(evaluation.challenger),
    champion: evaluation.champion ? summary(evaluation.champion) : null,
  };
  const { threshold } = cardEssentials(candidate.cardJson, `candidate ${candidate.key}`);
  const section = championSection({
    test: { y: candidate.testSet.y, p: candidate.testSet.p },
    threshold,
    champion:
      evaluation.championScores && evaluation.championVersion && evaluation.championThreshold !== null
        ? {
            version: evaluation.championVersion,
            p: evaluation.championScores,
            threshold: evaluation.championThreshold,
          }
        : null,
    championVersion: evaluation.championVersion,
    gate: evaluation.gate,
  });
  const report =
    typeof candidate.report === 'string' ? candidate.report : new TextDecoder().decode(candidate.report);
  const card = { ...candidate.cardJson, evaluation: record };
  await store.put(`${candidate.key}/report.html`, withChampionSection(report, section), {
    contentType: 'text/html; charset=utf-8',
  });
  await store.put(`${candidate.key}/card.json`, `${JSON.stringify(card, null, 2)}\n`, {
    contentType: 'application/json',
  });
  return record;
}
