/**
 * `npm run bench -- train [options]`: our GBDT vs LightGBM 4.x vs scikit-learn
 * HistGradientBoostingClassifier, same rows, bins, trees, leaves, learning rate and threads,
 * each in its own process (wall time of training incl. binning, peak RSS, test AUC).
 *
 * Two comparisons on each table with peers:
 * - what a user waits for (issue 22's goal): `credit-risk train`'s boost stage as trainModel
 *   runs it (lib/model/train-stages.ts `boost`: binning, boosting, the validation split scored
 *   after every tree; bench/train/boost.ts) against LightGBM's lgb.train with the same split as
 *   a valid set (binned with the training bins, logloss after every tree), early stopping off in
 *   both; --valid-runs rounds, ours and LightGBM alternated, the median of the rounds' ratios;
 * - the GBDT alone (issue 4's): trainGbdt without validation (bench/train/ours.ts) against
 *   lgb.train without a valid set and scikit-learn, once.
 * Each contestant reports its wall time and its CPU time (user + system, all threads): on a
 * shared machine the CPU seconds say how much work was done, the wall how long it took.
 *
 *   --rows N            main table size (default 777715, the size of the real data set)
 *   --big-rows N        second table (default 5000000; 0 skips)
 *   --lambda-rows N     ours alone on a Lambda-sized run (default 10000000; 0 skips)
 *   --features FILE     use a `features build` table (manifest next to it) instead of synthetic rows
 *   --big-features FILE the same for the second table (instead of --big-rows synthetic rows)
 *   --lambda-full FILE  the train Lambda's whole path (trainToDirectory: DuckDB read, split, GBDT with
 *                       early stopping, baseline, ONNX export, test scoring, card, report) on a
 *                       features table, in its own process: wall time and peak RSS of that process
 *   --valid-runs N      rounds of the with-validation comparison (default 3; 0 skips it)
 *   --trees N --leaves L --learning-rate R --threads T --max-bin B
 *
 * LightGBM runs twice, with OpenMP threads sleeping as soon as they wait (OMP_WAIT_POLICY=PASSIVE)
 * and spinning 100,000 times first (GOMP_SPINCOUNT=100000, what our pool does), and the faster of
 * the two is the reference for the ratios. scikit-learn runs once, with the spinning policy.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { toRowMajorFloat32 } from '#lib/model/gbdt/booster.ts';
import { outOfTimeSplit, randomSplit, take } from '#lib/model/split.ts';
import { readTable } from '#lib/model/table.ts';
import { readManifestNextTo } from '#lib/model/train.ts';
import { writeSyntheticSplit, type BenchSplit } from './data.ts';

interface RunResult {
  trainSeconds: number;
  /** User + system CPU seconds of the process over the training (all threads), when reported. */
  cpuSeconds?: number;
  testAuc: number;
  peakRssBytes: number;
  trees: number;
}

/** One round of the with-validation comparison: ours, then LightGBM with each wait policy. */
interface ValidRound {
  ours: (RunResult & { loadBefore: number }) | { error: string };
  lightgbm: Record<string, (RunResult & { loadBefore: number }) | { error: string }>;
  /** Ours over the faster LightGBM run of the round. */
  ratio?: number;
}

function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length === 0 ? Number.NaN : v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

function arg(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
}

function runJson(
  cmd: string,
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): RunResult | { error: string } {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', env, maxBuffer: 1 << 24 });
  if (r.status !== 0)
    return { error: (r.stderr || r.stdout || `exit ${r.status}`).trim().split('\n').slice(-3).join(' | ') };
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as RunResult;
}

/** A features table split out of time (by its manifest's time column) into the bench files. */
export async function writeFeaturesSplit(file: string, dir: string): Promise<BenchSplit> {
  const manifest = readManifestNextTo(file);
  const table = await readTable(file);
  const label = manifest?.label ?? 'status';
  const skip = new Set([label, ...(manifest?.ids ?? []), ...(manifest?.time ? [manifest.time] : [])]);
  const features = table.schema.filter((c) => !skip.has(c.name)).map((c) => c.name);
  const col = (name: string) => {
    const c = table.columns.get(name);
    if (!c || c.kind === 'text') throw new Error(`column ${name} is not numeric`);
    return c.values;
  };
  const split = manifest?.time ? outOfTimeSplit(col(manifest.time)) : randomSplit(table.numRows, 42);
  mkdirSync(dir, { recursive: true });
  for (const part of ['train', 'valid', 'test'] as const) {
    const rows = split[part];
    const x = toRowMajorFloat32(
      features.map((f) => take(col(f), rows)),
      rows.length,
    );
    writeFileSync(join(dir, `${part}.x.f32`), new Uint8Array(x.buffer));
    writeFileSync(join(dir, `${part}.y.u8`), Uint8Array.from(take(col(label), rows)));
  }
  const meta: BenchSplit = {
    features,
    rows: { train: split.train.length, valid: split.valid.length, test: split.test.length },
  };
  writeFileSync(join(dir, 'meta.json'), JSON.stringify(meta));
  return meta;
}

const gib = (b: number) => (b / 2 ** 30).toFixed(2);

/** A features table's label for the tables: its path and what its manifest says it was built from. */
function featuresLabel(file: string, rows: number): string {
  const manifestPath = join(resolve(file, '..'), 'manifest.json');
  const snapshot = existsSync(manifestPath)
    ? (JSON.parse(readFileSync(manifestPath, 'utf8')) as { snapshotId?: string }).snapshotId
    : undefined;
  return `real features ${rows.toLocaleString('en-US')} rows (features build${snapshot ? ` snapshot ${snapshot}` : ''})`;
}

// The peers' names carry the versions installed in .venv (read at start, see peerVersions), so a
// figure always says which release it was measured against.
let LIGHTGBM = 'LightGBM';
let LIGHTGBM_VARIANTS: { name: string; env: Record<string, string> }[] = [];
let SKLEARN = 'scikit-learn HGB';

/** `major.minor` of LightGBM and scikit-learn in the bench's Python, for the peers' names. */
function peerVersions(python: string): { lightgbm: string; sklearn: string } {
  const r = spawnSync(
    python,
    ['-c', 'import lightgbm, sklearn; print(lightgbm.__version__, sklearn.__version__)'],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`cannot read the peers' versions with ${python}: ${r.stderr}`);
  const [lightgbm, sklearn] = r.stdout
    .trim()
    .split(' ')
    .map((v) => v.split('.').slice(0, 2).join('.'));
  return { lightgbm, sklearn };
}
const OURS = 'ours (TypeScript GBDT)';
const OURS_BOOST = 'ours: boost stage with validation';
const LIGHTGBM_VALID = 'LightGBM lgb.train with valid set';

interface LambdaFullResult {
  command: string;
  wallSeconds: number;
  peakRssBytes: number;
  inner?: {
    wallSeconds: number;
    steps: { at: number; line: string }[];
    version: string;
    auc: number;
    trees: number;
  };
  error?: string;
  loadBefore: number;
  loadAfter: number;
}

/** trainToDirectory on a features table, in a child process measured by /usr/bin/time -v. */
function runLambdaFull(file: string, out: string): LambdaFullResult {
  const loadBefore = loadavg()[0];
  const argv = ['-v', process.execPath, 'bin/run-ts.mjs', 'bench/train/lambda-full.ts', resolve(file), out];
  const r = spawnSync('/usr/bin/time', argv, {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const loadAfter = loadavg()[0];
  const command = `/usr/bin/time -v node bin/run-ts.mjs bench/train/lambda-full.ts ${file} OUT`;
  const stderr = r.stderr ?? '';
  process.stderr.write(
    stderr
      .split('\n')
      .filter((l) => l.startsWith('  ['))
      .join('\n') + '\n',
  );
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/.exec(stderr);
  if (r.status !== 0 || !rss || !wall) {
    return {
      command,
      wallSeconds: NaN,
      peakRssBytes: NaN,
      error: stderr.trim().split('\n').slice(-3).join(' | '),
      loadBefore,
      loadAfter,
    };
  }
  const wallSeconds = Number(wall[1] ?? 0) * 3600 + Number(wall[2]) * 60 + Number(wall[3]);
  const inner = JSON.parse(r.stdout.trim().split('\n').pop() as string) as LambdaFullResult['inner'];
  return { command, wallSeconds, peakRssBytes: Number(rss[1]) * 1024, inner, loadBefore, loadAfter };
}

export async function main(args: string[]): Promise<void> {
  const rows = Number(arg(args, '--rows', '777715'));
  const bigRows = Number(arg(args, '--big-rows', '5000000'));
  const lambdaRows = Number(arg(args, '--lambda-rows', '10000000'));
  const featuresFile = arg(args, '--features', '');
  const bigFeaturesFile = arg(args, '--big-features', '');
  const lambdaFullFile = arg(args, '--lambda-full', '');
  const validRuns = Number(arg(args, '--valid-runs', '3'));
  const params = {
    trees: Number(arg(args, '--trees', '200')),
    leaves: Number(arg(args, '--leaves', '31')),
    learningRate: Number(arg(args, '--learning-rate', '0.1')),
    threads: Number(arg(args, '--threads', '2')),
    maxBin: Number(arg(args, '--max-bin', '255')),
  };
  const python = resolve('.venv/bin/python');
  const versions = peerVersions(python);
  LIGHTGBM = `LightGBM ${versions.lightgbm}`;
  LIGHTGBM_VARIANTS = [
    { name: `${LIGHTGBM} (OMP passive)`, env: { OMP_WAIT_POLICY: 'PASSIVE' } },
    { name: `${LIGHTGBM} (OMP spin 100k)`, env: { GOMP_SPINCOUNT: '100000' } },
  ];
  SKLEARN = `scikit-learn HGB ${versions.sklearn} (OMP spin 100k)`;
  // How OpenMP threads wait between parallel regions decides a lot on a shared 2-core machine:
  // LightGBM runs with both policies (see the header), scikit-learn with the one our pool uses.
  const peerEnv = (extra: Record<string, string>) => {
    const env: NodeJS.ProcessEnv = { ...process.env, OMP_NUM_THREADS: String(params.threads), ...extra };
    if (!('OMP_WAIT_POLICY' in extra)) delete env.OMP_WAIT_POLICY;
    return env;
  };
  const work = join(tmpdir(), `bench-train-${process.pid}`);
  const results: Record<string, unknown>[] = [];
  const datasets: { label: string; rows: number; peers: boolean; file?: string }[] = [
    {
      label: `synthetic ${rows.toLocaleString('en-US')} rows`,
      rows,
      peers: true,
      file: featuresFile || undefined,
    },
  ];
  if (bigFeaturesFile || bigRows > 0) {
    datasets.push({
      label: `synthetic ${bigRows.toLocaleString('en-US')} rows`,
      rows: bigRows,
      peers: true,
      file: bigFeaturesFile || undefined,
    });
  }
  if (lambdaRows > 0)
    datasets.push({
      label: `synthetic ${lambdaRows.toLocaleString('en-US')} rows (GBDT only, Lambda check)`,
      rows: lambdaRows,
      peers: false,
    });
  let lambdaFull: LambdaFullResult | undefined;
  const validRounds: { dataset: string; trainRows: number; rounds: ValidRound[] }[] = [];

  try {
    for (const [k, ds] of datasets.entries()) {
      const dir = join(work, String(k));
      const meta = ds.file
        ? await writeFeaturesSplit(resolve(ds.file), dir)
        : writeSyntheticSplit(dir, ds.rows, 1 + k);
      if (ds.file) ds.label = featuresLabel(ds.file, meta.rows.train + meta.rows.valid + meta.rows.test);
      console.error(
        `# ${ds.label}: train ${meta.rows.train}, test ${meta.rows.test}, ${meta.features.length} features`,
      );
      const contestants: [string, () => RunResult | { error: string }][] = [
        [
          OURS,
          () =>
            runJson(process.execPath, ['bin/run-ts.mjs', 'bench/train/ours.ts', dir, JSON.stringify(params)]),
        ],
      ];
      if (ds.peers) {
        for (const v of LIGHTGBM_VARIANTS) {
          contestants.push([
            v.name,
            () =>
              runJson(
                python,
                ['bench/train/peers.py', 'lightgbm', dir, JSON.stringify(params)],
                peerEnv(v.env),
              ),
          ]);
        }
        contestants.push([
          SKLEARN,
          () =>
            runJson(
              python,
              ['bench/train/peers.py', 'sklearn', dir, JSON.stringify(params)],
              peerEnv({ GOMP_SPINCOUNT: '100000' }),
            ),
        ]);
      }
      if (ds.peers && validRuns > 0) {
        // What a user waits for: the boost stage with validation against lgb.train with it.
        const rounds: ValidRound[] = [];
        for (let k = 0; k < validRuns; k++) {
          const timed = (run: () => RunResult | { error: string }) => {
            const loadBefore = loadavg()[0];
            const r = run();
            return 'error' in r ? r : { ...r, loadBefore };
          };
          const ours = timed(() =>
            runJson(process.execPath, [
              'bin/run-ts.mjs',
              'bench/train/boost.ts',
              dir,
              JSON.stringify(params),
            ]),
          );
          const lightgbm: ValidRound['lightgbm'] = {};
          for (const v of LIGHTGBM_VARIANTS) {
            lightgbm[v.name] = timed(() =>
              runJson(
                python,
                ['bench/train/peers.py', 'lightgbm-valid', dir, JSON.stringify(params)],
                peerEnv(v.env),
              ),
            );
          }
          const lgbm = Object.values(lightgbm).filter(
            (r): r is RunResult & { loadBefore: number } => !('error' in r),
          );
          const fastest = lgbm.length > 0 ? Math.min(...lgbm.map((r) => r.trainSeconds)) : Number.NaN;
          const round: ValidRound = { ours, lightgbm };
          if (!('error' in ours) && lgbm.length > 0) round.ratio = ours.trainSeconds / fastest;
          rounds.push(round);
          const fmt = (r: (RunResult & { loadBefore: number }) | { error: string }) =>
            'error' in r
              ? `FAILED ${r.error}`
              : `${r.trainSeconds.toFixed(2)} s (CPU ${r.cpuSeconds?.toFixed(2) ?? '?'} s, load ${r.loadBefore.toFixed(1)}), AUC ${r.testAuc.toFixed(4)}`;
          console.error(`  with validation, round ${k + 1}: ${OURS_BOOST} ${fmt(ours)}`);
          for (const [name, r] of Object.entries(lightgbm))
            console.error(`  with validation, round ${k + 1}: ${name} with valid set ${fmt(r)}`);
        }
        validRounds.push({ dataset: ds.label, trainRows: meta.rows.train, rounds });
      }
      const row: Record<string, unknown> = {
        dataset: ds.label,
        trainRows: meta.rows.train,
        features: meta.features.length,
        source: ds.file ?? 'synthetic (bench/train/data.ts)',
      };
      for (const [name, run] of contestants) {
        const loadBefore = loadavg()[0];
        const r = run();
        // The machine is shared: the 1-minute load average says how contended each run was.
        row[name] = { ...r, loadBefore, loadAfter: loadavg()[0] };
        console.error(
          `  ${name}: ${'error' in r ? `FAILED ${r.error}` : `${r.trainSeconds.toFixed(2)} s, AUC ${r.testAuc.toFixed(4)}, peak RSS ${gib(r.peakRssBytes)} GiB, ${r.trees} trees`}`,
        );
      }
      // The reference: the faster LightGBM run.
      const lgbmRuns = LIGHTGBM_VARIANTS.map(
        (v) => row[v.name] as RunResult | { error: string } | undefined,
      ).filter((r): r is RunResult => r !== undefined && !('error' in r));
      if (lgbmRuns.length > 0)
        row[LIGHTGBM] = lgbmRuns.reduce((a, b) => (b.trainSeconds < a.trainSeconds ? b : a));
      results.push(row);
      rmSync(dir, { recursive: true, force: true });
    }
    if (lambdaFullFile) {
      console.error(`# Lambda full path (trainToDirectory) on ${lambdaFullFile}`);
      lambdaFull = runLambdaFull(lambdaFullFile, join(work, 'lambda-full'));
      console.error(
        lambdaFull.error
          ? `  FAILED ${lambdaFull.error}`
          : `  ${lambdaFull.wallSeconds.toFixed(1)} s wall, peak RSS ${gib(lambdaFull.peakRssBytes)} GiB, ${lambdaFull.inner?.trees} trees, test AUC ${lambdaFull.inner?.auc.toFixed(4)}`,
      );
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }

  const lines: string[] = [];
  for (const v of validRounds) {
    const ratios = v.rounds.map((r) => r.ratio).filter((r): r is number => r !== undefined);
    lines.push(
      `With validation (${OURS_BOOST} vs ${LIGHTGBM_VALID}), ${v.dataset}, ${v.trainRows.toLocaleString('en-US')} train rows: median ${median(ratios).toFixed(2)}x over ${ratios.length} rounds (goal <= 1.2x)`,
      '',
      `| round | ours wall s | ours CPU s | ${LIGHTGBM_VARIANTS.map((x) => `${x.name} wall s | CPU s`).join(' | ')} | x LightGBM (faster) | test AUC ours / LightGBM | load before ours |`,
      `|---:|---:|---:|${LIGHTGBM_VARIANTS.map(() => '---:|---:|').join('')}---:|---|---:|`,
    );
    v.rounds.forEach((r, k) => {
      const cells = (x: (RunResult & { loadBefore: number }) | { error: string } | undefined) =>
        !x
          ? ' | '
          : 'error' in x
            ? `failed | `
            : `${x.trainSeconds.toFixed(2)} | ${x.cpuSeconds?.toFixed(2) ?? ''}`;
      const lgbmAuc = Object.values(r.lightgbm).find(
        (x): x is RunResult & { loadBefore: number } => !('error' in x),
      )?.testAuc;
      lines.push(
        `| ${k + 1} | ${cells(r.ours)} | ${LIGHTGBM_VARIANTS.map((x) => cells(r.lightgbm[x.name])).join(' | ')} | ${r.ratio?.toFixed(2) ?? ''} | ${'error' in r.ours ? '' : r.ours.testAuc.toFixed(4)} / ${lgbmAuc?.toFixed(4) ?? ''} | ${'error' in r.ours ? '' : r.ours.loadBefore.toFixed(1)} |`,
      );
    });
    lines.push('');
  }
  lines.push(
    'The GBDT alone, without validation:',
    '',
    '| data | train rows | contestant | train wall s | x LightGBM | peak RSS GiB | test AUC | AUC - LightGBM | load avg before/after |',
    '|---|---:|---|---:|---:|---:|---:|---:|---|',
  );
  for (const row of results) {
    const lgbm = row[LIGHTGBM] as RunResult | undefined;
    for (const name of [OURS, ...LIGHTGBM_VARIANTS.map((v) => v.name), SKLEARN]) {
      const r = row[name] as
        (RunResult & { loadBefore: number; loadAfter: number }) | { error: string } | undefined;
      if (!r) continue;
      if ('error' in r) {
        lines.push(`| ${row.dataset} | ${row.trainRows} | ${name} | failed: ${r.error} | | | | | |`);
        continue;
      }
      const ok = lgbm && !('error' in lgbm);
      lines.push(
        `| ${row.dataset} | ${(row.trainRows as number).toLocaleString('en-US')} | ${name} | ${r.trainSeconds.toFixed(2)} | ${ok ? (r.trainSeconds / lgbm.trainSeconds).toFixed(2) : ''} | ${gib(r.peakRssBytes)} | ${r.testAuc.toFixed(4)} | ${ok ? (r.testAuc - lgbm.testAuc >= 0 ? '+' : '') + (r.testAuc - lgbm.testAuc).toFixed(4) : ''} | ${r.loadBefore.toFixed(1)} / ${r.loadAfter.toFixed(1)} |`,
      );
    }
  }
  if (lambdaFull) {
    // After the last tree: from the GBDT's closing progress line to the end of trainToDirectory
    // (threshold, baseline, ONNX, test scoring, SHAP, card, report, files).
    const gbdtLine = lambdaFull.inner?.steps.find((s) => s.line.startsWith('GBDT:'));
    const afterLastTree =
      lambdaFull.inner && gbdtLine ? (lambdaFull.inner.wallSeconds - gbdtLine.at).toFixed(1) : '';
    lines.push(
      '',
      '| Lambda full path (trainToDirectory) | rows | wall s | after the last tree s (goal <= 10) | peak RSS GiB | trees | test AUC | load avg before/after |',
      '|---|---:|---:|---:|---:|---:|---:|---|',
    );
    lines.push(
      lambdaFull.error
        ? `| ${lambdaFullFile} | | failed: ${lambdaFull.error} | | | | | |`
        : `| ${lambdaFullFile} | ${lambdaFull.inner?.steps[0]?.line.replace(/^read ([\d,]+) rows.*$/, '$1') ?? ''} | ${lambdaFull.wallSeconds.toFixed(1)} | ${afterLastTree} | ${gib(lambdaFull.peakRssBytes)} | ${lambdaFull.inner?.trees ?? ''} | ${lambdaFull.inner?.auc.toFixed(4) ?? ''} | ${lambdaFull.loadBefore.toFixed(1)} / ${lambdaFull.loadAfter.toFixed(1)} |`,
    );
  }
  const table = lines.join('\n');
  console.log(table);
  mkdirSync('bench/results', { recursive: true });
  const out = `bench/results/train-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
  writeFileSync(
    out,
    JSON.stringify(
      { args, params, validRounds, results, lambdaFull, table, cpus: process.env.BENCH_NOTE ?? null },
      null,
      2,
    ),
  );
  console.error(`raw results: ${out}`);
}
