import { describe, expect, it } from '@jest/globals';
import { renderReport } from '#lib/model/report.ts';
import { stalenessByMonth } from '#lib/model/staleness.ts';
import { planTuning, type TrialResult, type TuningRecord } from '#lib/model/tuning-plan.ts';

const y = [0, 1, 0, 1, 0, 1, 0, 0];
const p = [0.1, 0.9, 0.2, 0.7, 0.3, 0.4, 0.6, 0.2];

function tuningRecord(): TuningRecord {
  const first = planTuning({ tune: { trials: 3 }, base: {} }, new Date('2026-12-06T00:00:00Z'));
  const results: TrialResult[] = first.trials.map((t) => ({
    id: t.id,
    rung: t.rung,
    fraction: t.fraction,
    trainRows: 1000,
    allRows: false,
    validAuc: [0.7, 0.8, 0.75][t.id],
    validLogloss: 0.3,
    trees: 12,
    treesBuilt: 20,
    stopReason: 'early-stopping',
    seconds: 1.5,
  }));
  const done = planTuning(
    { tune: { trials: 3 }, base: {}, tuning: { state: first.state, results } },
    new Date('2026-12-06T00:00:10Z'),
  );
  return done.record as TuningRecord;
}

describe('report.html: tuning and staleness sections', () => {
  it('lists every trial, marks the chosen one and names its settings', () => {
    const tuning = tuningRecord();
    const html = renderReport({ card: { threshold: 0.5 }, test: { y, p }, tuning });
    expect(html).toContain('<section id="tuning">');
    expect(html.match(/<tr data-trial=/g)).toHaveLength(3);
    expect(html).toContain('data-chosen="1"');
    expect(html).toMatch(/<tr data-trial="1" data-rung="0" class="ok">/);
    expect(html).toContain(`numLeaves ${tuning.configs[1].numLeaves}`);
    expect(html).toContain('0 (defaults)');
    expect(html).toContain('scored on the validation split only');
  });

  it('shows each month with its AUC and ECE, and the fitted change per month', () => {
    // Two months of four rows each, after a model trained up to 2020-12.
    const days = [18628, 18628, 18630, 18630, 18659, 18659, 18660, 18660];
    const staleness = stalenessByMonth({
      days,
      y,
      p,
      trainedUntil: '2020-12-31',
      timeColumn: 'loan_date',
      scoredOn: 'test',
      minRows: 1,
    });
    const html = renderReport({ card: { threshold: 0.5 }, test: { y, p }, staleness });
    expect(html).toContain('<section id="staleness">');
    expect(html.match(/<tr data-month=/g)).toHaveLength(2);
    expect(html).toContain('Trained on data up to 2020-12-31');
    expect(html).toMatch(/AUC changes [-+]\d\.\d{4} per month/);
    expect(html).toContain('AUC by month after the training data');
  });

  it('leaves both sections out when the card has neither', () => {
    const html = renderReport({ card: { threshold: 0.5 }, test: { y, p } });
    expect(html).not.toContain('id="tuning"');
    expect(html).not.toContain('id="staleness"');
  });
});
