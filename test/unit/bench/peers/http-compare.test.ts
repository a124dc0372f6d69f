import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ablationHomeIn,
  checkTargetNames,
  homeWithoutExplainer,
  pruneEarlierPredictionLog,
  ratios,
  TARGET_NAMES,
  targets,
  type TargetResult,
} from '../../../../bench/peers/http-compare.ts';
import type { PreparedData } from '../../../../bench/peers/prepare.ts';

/** A result with only what ratios() reads. */
function result(
  name: string,
  requestsPerSecond: number,
  latencyP99Ms: number,
  cpuMsPerRequest = 0.1,
): TargetResult {
  return {
    name,
    description: name,
    requestsPerSecond,
    requests: requestsPerSecond * 10,
    latencyP50Ms: 1,
    latencyP99Ms,
    latencyMaxMs: latencyP99Ms * 2,
    statusCounts: { '2xx': 1, '4xx': 0, '5xx': 0 },
    errors: 0,
    timeouts: 0,
    client: 'wrk',
    peakRssMiB: 1,
    processes: 1,
    startSeconds: 1,
    contract: { ok: true, problems: [], probabilities: {}, answersWithReasons: 0 },
    serverCpuSeconds: 1,
    cpuMsPerRequest,
  };
}

describe('ratios: issue 22 goals against the node floor', () => {
  it('measures ours against the floor, p99 at most 1.5x and throughput at least 0.6x', () => {
    const r = ratios([result('ours', 12_000, 9), result('node-floor', 40_000, 5)]);
    expect(r.throughputVsFloor).toBeCloseTo(0.3, 12);
    expect(r.p99VsFloor).toBeCloseTo(1.8, 12);
    expect(r.goals.p99VsFloor).toEqual({
      goal: "<= 1.5x the node floor's p99 (#22)",
      measured: 1.8,
      met: false,
    });
    expect(r.goals.throughputVsFloor.met).toBe(false);
    const met = ratios([result('ours', 30_000, 7.5), result('node-floor', 40_000, 5)]);
    expect(met.goals.p99VsFloor.met).toBe(true); // 1.5 is within the goal
    expect(met.goals.throughputVsFloor.met).toBe(true);
  });

  it('leaves a goal undecided when the floor did not run', () => {
    const r = ratios([result('ours', 12_000, 9)]);
    expect(r.goals.p99VsFloor.met).toBeUndefined();
    expect(r.ablations).toBeUndefined();
  });

  it('reports each ablation that ran against the floor and against ours', () => {
    const r = ratios([
      result('ours', 10_000, 10, 0.14),
      result('ours-no-reasons', 15_000, 8, 0.09),
      result('node-floor', 40_000, 5),
    ]);
    expect(Object.keys(r.ablations ?? {})).toEqual(['ours-no-reasons']);
    const a = r.ablations!['ours-no-reasons'];
    expect(a.throughputVsFloor).toBeCloseTo(0.375, 12);
    expect(a.p99VsFloor).toBeCloseTo(1.6, 12);
    expect(a.throughputVsOurs).toBeCloseTo(1.5, 12);
    expect(a.cpuMsPerRequest).toBe(0.09);
  });
});

describe('the ablation targets', () => {
  let dir: string;
  let data: PreparedData;
  const version = 'abc123';

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cr-http-compare-'));
    const home = join(dir, 'home');
    const model = join(home, 'store/models/credit-risk', version);
    mkdirSync(model, { recursive: true });
    writeFileSync(join(model, 'model.onnx'), 'onnx');
    writeFileSync(join(model, 'explainer.json'), '{}');
    mkdirSync(join(home, 'store/predictions-log/date=2026-12-07'), { recursive: true });
    writeFileSync(join(home, 'store/predictions-log/date=2026-12-07/1.jsonl'), '{}\n');
    mkdirSync(join(home, 'logs'));
    writeFileSync(join(home, 'logs/predict.jsonl'), '{}\n');
    mkdirSync(join(home, 'pglite'));
    writeFileSync(join(home, 'pglite/PG_VERSION'), '17');
    data = { home, modelVersion: version } as PreparedData;
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('copies the home without the champion explainer and without its outputs', () => {
    const copy = homeWithoutExplainer(data, join(dir, 'copy'));
    const model = join(copy, 'store/models/credit-risk', version);
    expect(readFileSync(join(model, 'model.onnx'), 'utf8')).toBe('onnx');
    expect(existsSync(join(model, 'explainer.json'))).toBe(false);
    expect(readFileSync(join(copy, 'pglite/PG_VERSION'), 'utf8')).toBe('17');
    expect(existsSync(join(copy, 'store/predictions-log'))).toBe(false);
    expect(existsSync(join(copy, 'logs'))).toBe(false);
    // The bench's own home keeps its explainer.
    expect(existsSync(join(data.home, 'store/models/credit-risk', version, 'explainer.json'))).toBe(true);
  });

  it("ours starts without the earlier runs' prediction log, and keeps the rest of the home", () => {
    const ours = targets(data, '/usr/bin/python3', [], '', dir).find((s) => s.name === 'ours')!;
    ours.prepare!();
    expect(existsSync(join(data.home, 'store/predictions-log'))).toBe(false);
    expect(readFileSync(join(data.home, 'logs/predict.jsonl'), 'utf8')).toBe('{}\n');
    expect(existsSync(join(data.home, 'store/models/credit-risk', version, 'explainer.json'))).toBe(true);
    expect(pruneEarlierPredictionLog(data.home)).toBe(0); // nothing left: nothing to say
  });

  it('says how many bytes of prediction log it removed', () => {
    expect(pruneEarlierPredictionLog(data.home)).toBe(3);
  });

  it('fails when the champion has no explainer to remove', () => {
    rmSync(join(data.home, 'store/models/credit-risk', version, 'explainer.json'));
    expect(() => homeWithoutExplainer(data, join(dir, 'copy'))).toThrow(/no .*explainer\.json to remove/);
  });

  it('serve the copy, with per-request logs off where named', () => {
    const specs = targets(data, '/usr/bin/python3', [], '', dir);
    const by = (name: string) => specs.find((s) => s.name === name)!;
    expect(by('ours').env).toEqual({ CREDIT_RISK_HOME: data.home });
    expect(by('ours-no-info-logs').env).toEqual({
      CREDIT_RISK_HOME: data.home,
      POWERTOOLS_LOG_LEVEL: 'WARN',
    });
    expect(ablationHomeIn(dir)).toBe(join(dir, 'home-without-explainer'));
    expect(by('ours-no-reasons').env).toEqual({ CREDIT_RISK_HOME: ablationHomeIn(dir) });
    expect(by('ours-no-reasons-no-info-logs').env).toEqual({
      CREDIT_RISK_HOME: join(dir, 'home-without-explainer'),
      POWERTOOLS_LOG_LEVEL: 'WARN',
    });
    by('ours-no-reasons').prepare!();
    expect(
      existsSync(join(dir, 'home-without-explainer/store/models/credit-risk', version, 'model.onnx')),
    ).toBe(true);
    expect(by('ours-no-reasons').args(8080)).toEqual(by('ours').args(8080));
  });
});

describe('target names', () => {
  it('lists every target, in the order they run', () => {
    const data = { home: '/h', modelVersion: 'v' } as PreparedData;
    expect(targets(data, '/usr/bin/python3').map((s) => s.name)).toEqual(TARGET_NAMES);
  });

  it('refuses a name that is not a target, naming the ones there are', () => {
    expect(() => checkTargetNames(['ours', 'node-flor'])).toThrow(
      /unknown --targets node-flor; the targets are ours, ours-no-info-logs, .*node-floor$/,
    );
    expect(() => checkTargetNames(['ours', 'ours-no-reasons', 'node-floor'])).not.toThrow();
  });
});
