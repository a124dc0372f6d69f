/** @jest-environment ./test/integration/serving/onnx-environment.cjs */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelLineage } from '#lib/model/card.ts';
import type { FairnessAttribute } from '#lib/model/fairness.ts';
import { runDecision } from '#lib/pipeline/run-record.ts';
import { ModelRegistry } from '#lib/registry/registry.ts';
import { main } from '#local/cli.ts';
import { createLocalRoot, type LocalRoot } from '#local/root.ts';
import { runPipelineLocally } from '#local/sfn/local-pipeline.ts';
import { ensureGeneratedRaw } from '#local/sfn/raw-data.ts';
import { freshHome } from '../../support/home.ts';

/**
 * Governance of a pipeline-trained model, end to end on the local runner with the real handlers
 * (features, train, evaluate, register, build; no canary traffic): the card's lineage has no
 * null field, its fairness section holds the adverse impact ratio of its own groups, the evaluate
 * step records the gate in the card and fills the report's champion column, a baseline margin
 * the GBDT cannot clear rejects it with the reason in the machine's output, and
 * `models compare` scores two registered versions on the same rows.
 */
const home = freshHome('cr-gov-');
let root: LocalRoot;
let raw: { key: string; lastLoanDate: string };
const GATE = {
  minTestRows: 50,
  minTestPositives: 1,
  maxEce: 0.3,
  minAuc: 0.5,
  requireBrierBeatsBaseRate: false,
};

beforeAll(async () => {
  process.env.CREDIT_RISK_HOME = home.root;
  root = createLocalRoot(home);
  raw = await ensureGeneratedRaw(root, { rows: 8000, seed: 5 });
});

afterAll(async () => {
  delete process.env.CREDIT_RISK_HOME;
  await root.featureStore.close();
});

async function run(train: Record<string, unknown>, gate: Record<string, unknown> = GATE) {
  return runPipelineLocally({
    root,
    input: { trigger: 'test', input: raw.key, asOf: raw.lastLoanDate, train, gate, canaryWeight: 0.1 },
    waitScale: 0,
  });
}

function nullsIn(value: unknown, path: string, out: string[] = []): string[] {
  if (value === null || value === undefined) out.push(path);
  else if (typeof value === 'object')
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) nullsIn(v, `${path}.${k}`, out);
  return out;
}

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const sink = (to: string[]) => (chunk: unknown) => to.push(String(chunk)) > 0;
  const o = jest.spyOn(process.stdout, 'write').mockImplementation(sink(out));
  const e = jest.spyOn(process.stderr, 'write').mockImplementation(sink(err));
  try {
    const code = await main(['node', 'credit-risk', ...args]);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    o.mockRestore();
    e.mockRestore();
    process.exitCode = 0;
  }
}

describe('a pipeline-trained model (local runner, real handlers)', () => {
  let first = '';

  it('has a card with no null lineage field, the run id of its execution, and its fairness', async () => {
    const { record } = await run({ numTrees: 40, learningRate: 0.15 });
    expect(runDecision(record)).toBe('promoted');
    const registry = new ModelRegistry(root.objectStore);
    const { version, card } = await registry.card('champion');
    first = version;
    const lineage = card.lineage as ModelLineage;
    expect(nullsIn(lineage, 'lineage')).toEqual([]);
    expect(lineage.runId).toBe(record.executionId);
    expect(lineage.codeVersion).toMatch(/^[0-9a-f]{40}$|^\S+$/);
    expect(Object.keys(lineage.libraries)).toEqual(['node', 'onnxruntime-node', '@duckdb/node-api']);
    expect(lineage.settings.protectedColumns).toEqual(['code_gender', 'age_band']);
    expect(card.features).not.toContain('code_gender');
    expect(card.features).not.toContain('age_band');

    const fairness = card.fairness as Record<string, FairnessAttribute>;
    const gender = fairness.code_gender;
    expect(gender.groups.map((g) => g.group).sort()).toEqual(['F', 'M']);
    const rates = gender.groups.filter((g) => g.inRatio).map((g) => g.approvalRate);
    expect(gender.adverseImpactRatio).toBeCloseTo(Math.min(...rates) / Math.max(...rates), 12);
    expect(Object.keys(fairness.age_band.groups.length ? fairness : {})).toEqual(['code_gender', 'age_band']);

    // 8,000 rows: small data, the final model is refit on train + validation
    expect(card.training).toMatchObject({ refit: { applied: true, policy: 'auto' } });
    // the evaluate step wrote the gate into the card; no champion before this one
    expect(card.evaluation).toMatchObject({ championVersion: null, gate: { pass: true } });
  }, 240_000);

  it('a second model is measured against the champion on the same rows: card and report say so', async () => {
    // Registered whatever its AUC: this test is about the champion column, not the gate.
    const { record } = await run(
      { numTrees: 25, learningRate: 0.2, seed: 9 },
      { ...GATE, maxAucDrop: 1, baselineAucMargin: -1 },
    );
    const candidate = (record.output as { modelVersion?: string }).modelVersion as string;
    expect(candidate).toMatch(/^[0-9a-f]{64}$/);
    expect(candidate).not.toBe(first);
    const registry = new ModelRegistry(root.objectStore);
    const { card } = await registry.card(candidate);
    expect(card.evaluation).toMatchObject({ championVersion: first, champion: { auc: expect.any(Number) } });
    const report = readFileSync(join(home.store, registry.reportKey(candidate)), 'utf8');
    expect(report).toContain('<section id="champion">');
    expect(report).toContain(`Champion <code>${first.slice(0, 12)}</code> scored on the same`);
    expect(report).toMatch(/data-model="champion">0\.\d{4}</);
  }, 240_000);

  it('a baseline margin the GBDT cannot clear rejects it; the reason is in the output', async () => {
    const { record } = await run(
      { numTrees: 20, learningRate: 0.2, seed: 3 },
      { ...GATE, baselineAucMargin: 0.5 },
    );
    expect(runDecision(record)).toBe('rejected');
    const output = record.output as { reasons: string[] };
    expect(output.reasons).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^auc_not_above_baseline: auc 0\.\d{4} vs logistic baseline/),
      ]),
    );
  }, 240_000);

  it('models compare scores two versions on the same rows, with deltas, fairness and diffs', async () => {
    const registry = new ModelRegistry(root.objectStore);
    const versions = (await registry.list()).map((v) => v.version);
    expect(versions.length).toBeGreaterThanOrEqual(2);
    const [a, b] = versions;
    const html = join(home.root, 'compare.html');
    const r = await cli('models', 'compare', a.slice(0, 12), b.slice(0, 12), '--json', '--html', html);
    expect(r.code).toBe(0);
    const c = JSON.parse(r.stdout) as {
      rows: { n: number; description: string };
      a: { version: string; auc: number };
      b: { version: string; auc: number };
      delta: { auc: number };
      fairness: Record<string, { a: FairnessAttribute; b: FairnessAttribute }>;
      settings: { key: string }[];
      lineage: { key: string }[];
    };
    expect(c.a.version).toBe(a);
    expect(c.b.version).toBe(b);
    expect(c.rows.description).toMatch(/^the out-of-time tail of snapshot [0-9a-f]{16}$/);
    expect(c.rows.n).toBeGreaterThan(500);
    expect(c.delta.auc).toBeCloseTo(c.b.auc - c.a.auc, 12);
    expect(Object.keys(c.fairness)).toEqual(['code_gender', 'age_band']);
    expect(c.settings.map((d) => d.key)).toEqual(
      expect.arrayContaining(['params.numTrees', 'params.learningRate']),
    );
    expect(c.lineage.map((d) => d.key)).toContain('runId');
    expect(readFileSync(html, 'utf8')).toMatch(/<h2>Metrics on the same rows<\/h2>/);

    const text = await cli('models', 'compare', 'champion', b.slice(0, 12));
    expect(text.stdout).toMatch(/^ROC AUC\s+0\.\d{4}\s+0\.\d{4}\s+[+-]?\d\.\d{4}$/m);
    const same = await cli('models', 'compare', a.slice(0, 12), a.slice(0, 12));
    expect(same.code).toBe(2);
  }, 120_000);
});
