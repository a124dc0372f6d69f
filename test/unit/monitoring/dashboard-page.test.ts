import { describe, expect, it } from '@jest/globals';
import { ALARM_RULES, evaluateAlarms, type LocalAlarmInputs } from '#lib/monitoring/alarm-evaluation.ts';
import { buildDashboardPage, type DashboardData } from '#lib/monitoring/dashboard-page.ts';
import type { RealizedPerformanceView } from '#lib/monitoring/realized-performance-view.ts';

const NOW = new Date('2026-03-01T12:00:00Z');
const CHAMPION = 'a'.repeat(64);
const CANARY = 'b'.repeat(64);

function data(overrides: Partial<DashboardData> = {}): DashboardData {
  const inputs = Object.fromEntries(
    Object.keys(ALARM_RULES).map((id) => [id, { datapoints: [], source: `source of ${id}` }]),
  ) as unknown as LocalAlarmInputs;
  inputs.PredictNonFiniteAlarm = {
    datapoints: [{ periodStart: NOW.getTime() - 10_000, value: 3 }],
    source: 'emf',
  };
  return {
    generatedAt: NOW.toISOString(),
    source: '/home/x/.credit-risk',
    traffic: {
      bucketSeconds: 60,
      versions: [
        {
          modelVersion: CHAMPION,
          role: 'champion',
          requests: 137,
          predictions: 130,
          clientErrors: 4,
          serverErrors: 3,
          p99LatencyMs: 12.345,
          series: [
            { at: NOW.getTime() - 120_000, requests: 70, serverErrors: 1, p99LatencyMs: 11 },
            { at: NOW.getTime() - 60_000, requests: 67, serverErrors: 2, p99LatencyMs: 12.345 },
          ],
        },
        {
          modelVersion: CANARY,
          role: 'canary',
          requests: 9,
          predictions: 9,
          clientErrors: 0,
          serverErrors: 0,
          p99LatencyMs: 8,
          series: [{ at: NOW.getTime() - 60_000, requests: 9, serverErrors: 0, p99LatencyMs: 8 }],
        },
      ],
    },
    canary: {
      modelName: 'credit-risk',
      champion: CHAMPION,
      canary: { version: CANARY, weight: 0.1, deadline: '2026-03-01T13:00:00Z' },
      previousChampions: [],
      championAge: { version: CHAMPION, since: '2026-02-20T12:00:00Z', days: 9 },
      recent: [{ at: '2026-03-01T11:00:00Z', action: 'set-canary', to: CANARY, why: 'canary at 0.1 <b>' }],
    },
    drift: {
      reportKey: 'monitoring/drift/2026-03-01T060000000Z.json',
      checkedAt: '2026-03-01T06:00:00Z',
      champion: CHAMPION,
      snapshotId: 'snap-1',
      threshold: 0.2,
      maxPsi: 0.3141,
      maxPsiFeature: 'age',
      retrain: true,
      features: [
        {
          feature: 'age',
          status: 'drifted',
          psi: 0.3141,
          psiTrainingRows: 0.3,
          rows: 1000,
          missingShare: 0,
          referenceMissingShare: 0,
          mean: 50,
          referenceMean: 40,
          groups: {
            labels: ['missing', '-inf .. 40', '40 .. +inf'],
            baseline: [0, 600, 400],
            current: [0, 200, 800],
          },
        },
      ],
    },
    performance: null,
    alarms: evaluateAlarms(inputs, NOW),
    ...overrides,
  };
}

const text = (html: string) => html.replace(/<[^>]+>/g, ' ');

describe('dashboard page', () => {
  it('has the five panels, self-contained: no script, no external asset', () => {
    const html = buildDashboardPage(data());
    for (const id of ['traffic', 'canary', 'drift', 'performance', 'alarms'])
      expect(html).toContain(`<section class="panel" id="panel-${id}">`);
    expect(html).not.toMatch(/<script|<link|src=|https?:\/\//i);
    expect(html.match(/<svg /g)!.length).toBeGreaterThanOrEqual(4);
  });

  it("shows each version's figures from the data: requests, 5xx, rate, p99", () => {
    const html = buildDashboardPage(data());
    const row = html.match(new RegExp(`<tr data-version="${CHAMPION}">.*?</tr>`))![0];
    expect(row).toContain('<td data-metric="requests">137</td>');
    expect(row).toContain('<td data-metric="serverErrors">3</td>');
    expect(row).toContain('<td data-metric="errorRate">2.19%</td>');
    expect(row).toContain('<td data-metric="p99LatencyMs">12.35</td>');
    expect(text(row)).toContain('champion');
  });

  it('shows the canary, the champion age, drift with both histograms and the PSI', () => {
    const html = buildDashboardPage(data());
    expect(html).toContain('<span data-metric="canaryWeight">0.1</span>');
    expect(html).toContain('9.00 days');
    expect(html).toContain('<span data-metric="maxPsi">0.3141</span>');
    expect(html).toContain('aria-label="age: PSI 0.3141"');
    // 3 groups x 2 sides: baseline 60% / current 20% for the second group.
    expect(html).toContain('-inf .. 40: baseline 60.0%');
    expect(html).toContain('-inf .. 40: current 20.0%');
    // The audit's text is escaped.
    expect(html).toContain('canary at 0.1 &#60;b&#62;');
  });

  it('says "no outcomes yet" without realized performance, and draws AUC by week with it', () => {
    expect(text(buildDashboardPage(data()))).toContain('no outcomes yet');
    const performance: RealizedPerformanceView = {
      versions: [
        {
          modelVersion: CHAMPION,
          rows: 400,
          positives: 40,
          realizedAuc: 0.7123,
          offlineAuc: 0.75,
          ks: 0.31,
          ece: 0.02,
          weeks: [
            { week: '2026-W08', rows: 200, positives: 20, realizedAuc: 0.7 },
            { week: '2026-W09', rows: 200, positives: 20, realizedAuc: 0.72 },
          ],
          deciles: [{ decile: 1, rows: 40, badRate: 0.01 }],
        },
      ],
    };
    const html = buildDashboardPage(data({ performance }));
    expect(text(html)).not.toContain('no outcomes yet');
    expect(html).toContain('<td data-metric="realizedAuc">0.7123</td>');
    expect(html).toContain('aria-label="realized AUC by week"');
    expect(html).toContain('2026-W09');
  });

  it('lists every alarm with its state and threshold', () => {
    const html = buildDashboardPage(data());
    for (const id of Object.keys(ALARM_RULES)) expect(html).toContain(`data-alarm="${id}"`);
    const nonFinite = html.match(/<tr data-alarm="PredictNonFiniteAlarm".*?<\/tr>/)![0];
    expect(nonFinite).toContain('<td class="state" data-metric="state">ALARM</td>');
    const drift = html.match(/<tr data-alarm="DriftAlarm".*?<\/tr>/)![0];
    expect(drift).toContain('ALARM'); // no datapoint given: missing is breaching
    expect(html).toContain('<span data-metric="alarmsInAlarm">2</span>');
  });

  it('an empty home: no requests and no drift report are said, not drawn as zeros', () => {
    const html = buildDashboardPage(data({ traffic: { bucketSeconds: 60, versions: [] }, drift: null }));
    expect(text(html)).toContain('no requests recorded yet');
    expect(text(html)).toContain('no drift report yet');
  });
});
