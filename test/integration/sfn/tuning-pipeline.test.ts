import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AliasTableDeployer } from '#lib/adapters/local/alias-table-deployer.ts';
import { BuildDirBuilder } from '#lib/adapters/local/build-dir-builder.ts';
import { JsonlNotifier } from '#lib/adapters/local/jsonl-notifier.ts';
import { generateLoans } from '#lib/data/generate.ts';
import type { ModelCard } from '#lib/model/card.ts';
import type { MetricsReader } from '#lib/ports/metrics-reader.ts';
import { ModelRegistry } from '#lib/registry/registry.ts';
import { createLocalRoot, type LocalRoot } from '#local/root.ts';
import { runPipelineLocally, type LocalPipelineRun } from '#local/sfn/local-pipeline.ts';
import { freshHome } from '../../support/home.ts';

/**
 * The training machine with a `tune` input on the local runner, every ML step real (extract,
 * the train function in plan, trial and train modes, evaluate, register): the registered model's
 * card keeps the trials and was trained with the chosen settings. The image build bundles a stub
 * (the predict bundle is not what this tests) and the first model is promoted outright.
 */
describe('training machine with tune: the real train function fans out its trials', () => {
  let root: LocalRoot;
  let run: LocalPipelineRun;

  beforeAll(async () => {
    const home = freshHome('cr-tune-pipeline-');
    root = createLocalRoot(home);
    const raw = join(home.data, 'loans.csv');
    const generated = generateLoans({ rows: 20_000, seed: 11, out: raw });
    await root.objectStore.upload(raw, 'raw/loans.csv', { contentType: 'text/csv' });
    const metrics: MetricsReader = {
      traffic: async (modelVersion) => ({
        modelVersion,
        predictions: 0,
        serverErrors: 0,
        p99LatencyMs: 0,
        scoreHistogram: [],
      }),
    };
    const stubBundle = async (dir: string) => {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'index.mjs'), 'export const handler = async () => ({});\n');
      return join(dir, 'index.mjs');
    };
    run = await runPipelineLocally({
      root,
      input: {
        input: 'raw/loans.csv',
        asOf: generated.lastLoanDate,
        train: { numThreads: 1 },
        tune: { trials: 6, seed: 5, maxConcurrency: 3 },
      },
      deployment: {
        deployer: new AliasTableDeployer(join(home.builds, 'alias-live.json')),
        builder: new BuildDirBuilder(home.builds, root.objectStore, stubBundle),
        metrics,
        notifier: new JsonlNotifier(join(home.notifications, 'notifications.jsonl')),
      },
      waitScale: 0.001,
    });
  });

  afterAll(async () => {
    await root?.featureStore.close();
  });

  it('runs plan -> Map -> plan -> Map -> plan, then TrainTuned, and promotes the model', async () => {
    expect(run.result).toMatchObject({ status: 'succeeded', output: { status: 'promoted' } });
    const names = run.record.states.map((s) => s.name);
    expect(names.filter((n) => n === 'PlanTuning')).toHaveLength(3);
    expect(names.filter((n) => n === 'RunTrials')).toHaveLength(2);
    // 6 configurations, then the best 2: eight trial invocations of the train function.
    expect(names.filter((n) => n === 'TuneTrial')).toHaveLength(8);
    expect(names).toContain('TrainTuned');
    expect(names).not.toContain('Train');
  });

  it("registers a model whose card keeps every trial and whose params are the chosen configuration's", async () => {
    const registry = new ModelRegistry(root.objectStore);
    const champion = (await registry.aliases()).champion as string;
    const card = (await registry.card(champion)).card as unknown as ModelCard;
    const tuning = card.tuning;
    if (!tuning) throw new Error('the card has no tuning record');
    expect(tuning.trials).toHaveLength(8);
    expect(tuning.trials.every((t) => t.trainRows > 0 && t.validAuc > 0.5)).toBe(true);
    const chosen = tuning.configs[tuning.chosen.id];
    expect(card.params).toMatchObject({
      numLeaves: chosen.numLeaves,
      learningRate: chosen.learningRate,
      minDataInLeaf: chosen.minDataInLeaf,
      lambdaL2: chosen.lambdaL2,
    });
    // The trials were judged on validation; the card's test metrics are the final model's.
    expect(tuning.scoredOn).toBe('validation');
    expect(card.metrics.test.auc).toBeGreaterThan(0.6);
    expect(card.staleness?.months.length).toBeGreaterThan(0);
  });
});
