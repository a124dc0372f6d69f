/**
 * `npm run bench -- features [--rows N[,M]] [--runs K] [--peers LIST] [--big-peers LIST] [--loop-sample S]`
 *
 * Ours is the whole `credit-risk features build` process as a user runs it: bin/credit-risk.mjs
 * (the compiled CLI in dist/cli, built here first when stale), validation, feature SQL on DuckDB,
 * features.parquet, online.parquet, quarantine and manifest. Beside it, on the same generated file
 * in the same run, whole processes measured from outside (wall, CPU, peak RSS of the tree):
 *
 * - floor:   bare DuckDB, one SQL script from plain Node, no validation (peers/duckdb_floor.mjs);
 * - polars:  Polars lazy, latest release (peers/polars_features.py, .venv-peers);
 * - pandas:  pandas 3 with the pyarrow CSV engine, vectorized (peers/pandas_vectorized.py, .venv-peers);
 * - pyspark: PySpark local[2] (peers/pyspark_features.py, .venv);
 * - loop:    the per-customer pandas loop of the public solutions, sampled and extrapolated (once).
 *
 * K rounds (default 3); each round runs every path once, in an order rotated round by round, so
 * all of them see the same machine. Every peer's features.parquet and online.parquet are compared
 * with ours, every row and column (rows differing must be 0). The goals (issue 22): Polars wall /
 * ours >= 1.0 and ours / floor <= 1.2 at 777,715 rows; at 10M rows ours / floor <= 1.3 and our peak
 * RSS <= 1.5 GiB. Ratios are medians of the per-round ratios (same round, same machine load).
 *
 * --rows 777715 (default), or e.g. --rows 10000000, or --rows 777715,10000000.
 * --peers floor,polars,pandas,pyspark,loop (default: all) for the first size; --big-peers
 * floor,polars (default) for sizes over 2M rows (pandas takes ~10 GB there, Spark minutes).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { generateLoans } from '#lib/data/generate.ts';
import { projectPython } from '#lib/features/spark-engine.ts';
import { lastJson, measure, type Measured } from './measure.ts';
import { peersPython } from '../peers-venv.ts';

const AS_OF = '2024-12-31';
const here = import.meta.dirname;
const root = resolve(here, '../..');
const BIG = 2_000_000;
const GIB = 1024;

type PathName = 'ours' | 'floor' | 'polars' | 'pandas' | 'pyspark' | 'loop';
const ALL_PEERS: PathName[] = ['floor', 'polars', 'pandas', 'pyspark', 'loop'];
const LABEL: Record<PathName, string> = {
  ours: 'ours: credit-risk features build',
  floor: 'floor: bare DuckDB, one SQL',
  polars: 'Polars (lazy)',
  pandas: 'pandas (pyarrow engine)',
  pyspark: 'PySpark local[2]',
  loop: 'pandas per-customer loop',
};
const NOTE: Record<PathName, string> = {
  ours: 'validation + features + online + quarantine + manifest, compiled CLI, node start included',
  floor: 'no validation, no manifest; node + DuckDB start included',
  polars: 'no validation; Python start included',
  pandas: 'no validation; Python start included',
  pyspark: 'no validation; JVM start included',
  loop: 'EXTRAPOLATED from a sample of customers (a lower bound), run once',
};

interface Run {
  round: number;
  wallSeconds: number;
  cpuSeconds: number;
  peakRssMiB: number;
  phases: Record<string, unknown>;
}

interface PathResult {
  size: number;
  path: PathName;
  version: string;
  runs: Run[];
  /** Rows of the peer's features.parquet / online.parquet not identical to ours (both directions). */
  mismatched?: { features: number; online: number };
}

function flag(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
}

function ensureData(rows: number): string {
  const dir = join(root, 'bench/results/data');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `loans-${rows}-seed1.csv`);
  if (!existsSync(file)) {
    console.error(`[bench features] generating ${rows} rows -> ${file}`);
    generateLoans({ rows, seed: 1, out: file });
  }
  return file;
}

/** The compiled CLI, rebuilt when any source changed: ours is timed as users run it. */
function ensureCompiledCli(): void {
  const build = spawnSync(process.execPath, [join(root, 'scripts/build-cli.mjs'), '--quiet'], {
    stdio: 'inherit',
  });
  if (build.status !== 0) throw new Error('scripts/build-cli.mjs failed');
  const probe = spawnSync(process.execPath, [join(root, 'bin/credit-risk.mjs'), '--help'], {
    env: { ...process.env, CREDIT_RISK_CLI_TRACE: '1' },
    encoding: 'utf8',
  });
  if (!probe.stderr.includes('compiled dist/cli'))
    throw new Error(`credit-risk does not run the compiled CLI: ${probe.stderr.slice(0, 500)}`);
}

function pythonVersions(python: string, modules: string[]): string {
  const r = spawnSync(
    python,
    [
      '-c',
      `import ${modules.join(', ')}; print(' '.join(m.__name__ + ' ' + m.__version__ for m in [${modules.join(', ')}]))`,
    ],
    { encoding: 'utf8' },
  );
  return r.stdout.trim();
}

async function mismatches(ours: string, peer: string): Promise<{ features: number; online: number }> {
  const instance = await DuckDBInstance.create(':memory:', { threads: '2' });
  const conn = await instance.connect();
  // Both sides cast to our types: pandas writes dates as timestamps, Spark as DATE.
  const features = (
    src: string,
  ) => `SELECT CAST(loan_id AS BIGINT), CAST(id AS BIGINT), CAST(loan_date AS DATE),
    CAST(status AS INT), CAST(nb_previous_loans AS INT), CAST(avg_amount_loans_previous AS DOUBLE), CAST(age AS INT),
    CAST(years_on_the_job AS INT), CAST(flag_own_car AS INT), CAST(days_since_previous_loan AS INT),
    CAST(amt_income_total AS DOUBLE), CAST(code_gender AS VARCHAR), CAST(age_band AS VARCHAR) FROM read_parquet('${src}')`;
  const online = (
    src: string,
  ) => `SELECT CAST(id AS VARCHAR), CAST(nb_loans AS INT), CAST(sum_loan_amount AS DOUBLE),
    CAST(last_loan_date AS DATE), CAST(nb_loans_before_last_date AS INT), CAST(sum_loan_amount_before_last_date AS DOUBLE),
    CAST(previous_loan_date AS DATE), CAST(birthday AS DATE), CAST(job_start_date AS DATE), CAST(flag_own_car AS INT),
    CAST(amt_income_total AS DOUBLE) FROM read_parquet('${src}')`;
  const differ = async (q: (s: string) => string, a: string, b: string) =>
    Number(
      (
        await conn.runAndReadAll(
          `SELECT (SELECT count(*) FROM (${q(a)} EXCEPT ALL ${q(b)})) + (SELECT count(*) FROM (${q(b)} EXCEPT ALL ${q(a)}))`,
        )
      ).getRows()[0][0],
    );
  const file = (dir: string, name: string) =>
    existsSync(join(dir, `${name}.parquet`)) ? join(dir, `${name}.parquet`) : join(dir, name, '*.parquet');
  const out = {
    features: await differ(features, file(ours, 'features'), file(peer, 'features')),
    online: await differ(online, file(ours, 'online'), file(peer, 'online')),
  };
  conn.closeSync();
  instance.closeSync();
  return out;
}

function check(name: string, m: Measured): void {
  if (m.code !== 0) throw new Error(`${name} failed (exit ${m.code}):\n${m.stderr.slice(-3000)}`);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export async function main(args: string[]): Promise<void> {
  const loadStart = loadavg();
  const sizes = flag(args, 'rows', '777715')
    .split(',')
    .map(Number)
    .filter((n) => n > 0);
  const rounds = Number(flag(args, 'runs', '3'));
  const smallPeers = flag(args, 'peers', ALL_PEERS.join(',')).split(',') as PathName[];
  const bigPeers = flag(args, 'big-peers', 'floor,polars').split(',') as PathName[];
  const loopSample = Number(flag(args, 'loop-sample', '1000'));
  for (const p of [...smallPeers, ...bigPeers])
    if (!ALL_PEERS.includes(p)) throw new Error(`unknown peer ${p}; peers: ${ALL_PEERS.join(', ')}`);

  ensureCompiledCli();
  const wanted = new Set([...smallPeers, ...bigPeers]);
  const py = wanted.has('polars') || wanted.has('pandas') ? peersPython() : '';
  const sparkPython = wanted.has('pyspark') || wanted.has('loop') ? projectPython() : undefined;
  if ((wanted.has('pyspark') || wanted.has('loop')) && !sparkPython)
    throw new Error('PySpark and the loop need the project Python (.venv): node scripts/python-env.mjs');
  const versions: Record<PathName, string> = {
    ours: `node ${process.version}, @duckdb/node-api ${JSON.parse(readFileSync(join(root, 'node_modules/@duckdb/node-api/package.json'), 'utf8')).version}`,
    floor: 'same DuckDB',
    polars: py ? pythonVersions(py, ['polars']) : '',
    pandas: py ? pythonVersions(py, ['pandas', 'pyarrow']) : '',
    pyspark: sparkPython ? pythonVersions(sparkPython, ['pyspark']) : '',
    loop: sparkPython ? pythonVersions(sparkPython, ['pandas']) : '',
  };
  console.error(`[bench features] versions: ${JSON.stringify(versions)}`);

  const results: PathResult[] = [];
  for (const size of sizes) {
    const input = ensureData(size);
    const peers = (size > BIG ? bigPeers : smallPeers).filter((p) => p !== 'loop');
    const order: PathName[] = ['ours', ...peers];
    const bySize = new Map<PathName, PathResult>(
      order.map((p) => [p, { size, path: p, version: versions[p], runs: [] }]),
    );
    const work = mkdtempSync(join(tmpdir(), 'bench-features-'));
    try {
      // The file is read once before timing, so no path pays the cold page cache alone.
      spawnSync('cat', [input], { stdio: ['ignore', 'ignore', 'ignore'] });
      const keep = join(work, 'ours-0');
      for (let round = 0; round < rounds; round++) {
        const rotated = order.map((_, i) => order[(i + round) % order.length]);
        for (const p of rotated) {
          const out = join(work, `${p}-${round}`);
          mkdirSync(out, { recursive: true });
          const m = await runPath(p, input, out, { py, sparkPython });
          check(p, m);
          const run: Run = {
            round,
            wallSeconds: m.wallSeconds,
            cpuSeconds: m.cpuSeconds,
            peakRssMiB: m.peakRssMiB,
            phases: phasesOf(p, m, out),
          };
          const r = bySize.get(p) as PathResult;
          r.runs.push(run);
          console.error(
            `[bench features] ${size} rows, round ${round + 1}/${rounds}: ${LABEL[p].padEnd(34)} ${m.wallSeconds.toFixed(2).padStart(7)} s wall ${m.cpuSeconds.toFixed(2).padStart(6)} s cpu ${m.peakRssMiB.toFixed(0).padStart(6)} MiB (load ${loadavg()[0].toFixed(2)})`,
          );
          // Round 0 runs ours first and keeps its output; each peer's round-0 output is compared with it.
          if (round === 0 && p !== 'ours') {
            r.mismatched = await mismatches(keep, out);
            if (r.mismatched.features + r.mismatched.online > 0)
              console.error(`[bench features] ${p} DIFFERS from ours: ${JSON.stringify(r.mismatched)}`);
          }
          if (out !== keep) rmSync(out, { recursive: true, force: true });
        }
      }
      results.push(...bySize.values());
      if (size <= BIG && smallPeers.includes('loop') && sparkPython) {
        const m = await measure(sparkPython, [join(here, 'peers/pandas_loop.py'), input, String(loopSample)]);
        check('pandas loop', m);
        const j = lastJson(m.stdout);
        results.push({
          size,
          path: 'loop',
          version: versions.loop,
          runs: [
            {
              round: 0,
              wallSeconds: Number(j.extrapolatedTotalSeconds),
              cpuSeconds: m.cpuSeconds,
              peakRssMiB: m.peakRssMiB,
              phases: { ...j, measuredWallSeconds: m.wallSeconds },
            },
          ],
        });
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
  report(args, results, loadStart, rounds);
}

async function runPath(
  p: PathName,
  input: string,
  out: string,
  env: { py: string; sparkPython?: string },
): Promise<Measured> {
  switch (p) {
    case 'ours':
      return measure(process.execPath, [
        join(root, 'bin/credit-risk.mjs'),
        'features',
        'build',
        '--input',
        input,
        '--out',
        out,
        '--as-of',
        AS_OF,
        '--json',
      ]);
    case 'floor':
      return measure(process.execPath, [join(here, 'peers/duckdb_floor.mjs'), input, out]);
    case 'polars':
      return measure(env.py, [join(here, 'peers/polars_features.py'), input, out]);
    case 'pandas':
      return measure(env.py, [join(here, 'peers/pandas_vectorized.py'), input, out]);
    case 'pyspark':
      return measure(env.sparkPython as string, [join(here, 'peers/pyspark_features.py'), input, out, '2g'], {
        ...process.env,
        PYSPARK_PYTHON: env.sparkPython,
      });
    case 'loop':
      throw new Error('the loop runs once, apart');
  }
}

/** Our build steps from the manifest; the peers' own phase timings from their last JSON line. */
function phasesOf(p: PathName, m: Measured, out: string): Record<string, unknown> {
  if (p === 'ours') {
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as {
      timingsMs: Record<string, number>;
    };
    return { buildMs: manifest.timingsMs, summary: lastJson(m.stdout) };
  }
  return lastJson(m.stdout);
}

function report(args: string[], results: PathResult[], loadStart: number[], rounds: number): void {
  const loadEnd = loadavg();
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  mkdirSync(join(root, 'bench/results'), { recursive: true });
  const file = join(root, 'bench/results', `features-${stamp}.json`);
  writeFileSync(
    file,
    JSON.stringify({ args, rounds, loadAverage: { start: loadStart, end: loadEnd }, results }, null, 2),
  );

  const lines = [
    `| rows | path | wall s, median (best) of ${rounds} | CPU s, median | peak RSS MiB, max | ours faster by (median of per-round ratios) | rows differing from ours (features; online) | versions | note |`,
    '|---|---|---:|---:|---:|---:|---:|---|---|',
  ];
  const goals: string[] = [];
  for (const size of [...new Set(results.map((r) => r.size))]) {
    const ours = results.find((r) => r.size === size && r.path === 'ours') as PathResult;
    /** Median over rounds of this path's wall / ours' wall in the same round. */
    const paired = (r: PathResult) =>
      median(
        r.runs.map(
          (x) => x.wallSeconds / (ours.runs.find((o) => o.round === x.round) ?? ours.runs[0]).wallSeconds,
        ),
      );
    for (const r of results.filter((x) => x.size === size)) {
      const walls = r.runs.map((x) => x.wallSeconds);
      // /usr/bin/time does not see Spark's JVM (not a waited-for child), and the loop's CPU is
      // that of its sample, not of the extrapolated run.
      const cpu =
        r.path === 'pyspark' || r.path === 'loop'
          ? 'n/a'
          : median(r.runs.map((x) => x.cpuSeconds)).toFixed(2);
      lines.push(
        `| ${size.toLocaleString('en')} | ${LABEL[r.path]} | ${median(walls).toFixed(2)} (${Math.min(...walls).toFixed(2)}) | ${cpu} | ${Math.max(...r.runs.map((x) => x.peakRssMiB)).toFixed(0)} | ${r === ours ? '' : `${paired(r).toFixed(2)}x`} | ${r.mismatched ? `${r.mismatched.features}; ${r.mismatched.online}` : ''} | ${r.version} | ${NOTE[r.path]} |`,
      );
    }
    const polars = results.find((r) => r.size === size && r.path === 'polars');
    const floor = results.find((r) => r.size === size && r.path === 'floor');
    const big = size > BIG;
    if (polars) {
      const ratio = paired(polars);
      const perRound = polars.runs.map((x) => (x.wallSeconds / ours.runs[x.round].wallSeconds).toFixed(2));
      goals.push(
        `${size.toLocaleString('en')} rows: Polars wall / ours = ${ratio.toFixed(2)} (rounds ${perRound.join(', ')})${big ? '' : `; goal >= 1.0: ${ratio >= 1 ? 'MET' : 'not met'}`}`,
      );
    }
    if (floor) {
      const ratio = 1 / paired(floor);
      const perRound = floor.runs.map((x) => (ours.runs[x.round].wallSeconds / x.wallSeconds).toFixed(2));
      const goal = big ? 1.3 : 1.2;
      goals.push(
        `${size.toLocaleString('en')} rows: ours / DuckDB floor = ${ratio.toFixed(2)} (rounds ${perRound.join(', ')}); goal <= ${goal}: ${ratio <= goal ? 'MET' : 'not met'}`,
      );
    }
    if (big) {
      const peak = Math.max(...ours.runs.map((x) => x.peakRssMiB));
      goals.push(
        `${size.toLocaleString('en')} rows: our peak RSS ${peak.toFixed(0)} MiB; goal <= 1.5 GiB (${1.5 * GIB} MiB): ${peak <= 1.5 * GIB ? 'MET' : 'not met'}`,
      );
    }
  }
  console.log(lines.join('\n'));
  console.log(`\nGoals (issue 22), ratios of the same round's runs, median over ${rounds} rounds:`);
  for (const g of goals) console.log(`- ${g}`);
  // CPU seconds move less with the machine's load than wall seconds do: the same ratios in CPU.
  for (const size of [...new Set(results.map((r) => r.size))]) {
    const cpuOf = (p: PathName) => {
      const r = results.find((x) => x.size === size && x.path === p);
      return r ? median(r.runs.map((x) => x.cpuSeconds)) : NaN;
    };
    const parts = [
      `ours / floor ${(cpuOf('ours') / cpuOf('floor')).toFixed(2)}`,
      `Polars / ours ${(cpuOf('polars') / cpuOf('ours')).toFixed(2)}`,
    ];
    console.log(
      `- ${size.toLocaleString('en')} rows, the same in CPU seconds (medians): ${parts.join(', ')}`,
    );
  }

  // Where our time goes: the build steps from each run's manifest (median over rounds).
  console.log(
    '\n| rows | validate | history | features | online | hash outputs | build total | process wall |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  for (const r of results.filter((x) => x.path === 'ours')) {
    const step = (name: string) =>
      s(median(r.runs.map((x) => ((x.phases.buildMs ?? {}) as Record<string, number>)[name] ?? NaN)));
    console.log(
      `| ${r.size.toLocaleString('en')} | ${step('validate')} | ${step('history')} | ${step('features')} | ${step('online')} | ${step('hash outputs')} | ${step('total')} | ${median(r.runs.map((x) => x.wallSeconds)).toFixed(2)} s |`,
    );
  }
  console.log(
    `\nload average at start ${loadStart.map((x) => x.toFixed(2)).join(' ')}, at end ${loadEnd.map((x) => x.toFixed(2)).join(' ')}`,
  );
  console.log(`raw results: ${file}`);
}
