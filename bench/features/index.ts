/**
 * `npm run bench -- features [--rows N] [--big-rows M] [--loop-sample K] [--big-peers pandas|all|none]`
 *
 * Our path (features build: validation + feature SQL on DuckDB + Parquet + online rows, then the
 * online load into PGlite) against, on the same generated file in the same run:
 * - vectorized pandas (groupby/cumsum, correct semantics, no validation),
 * - PySpark local[2] (DataFrame windows, correct semantics, no validation),
 * - the per-customer pandas loop of the public solutions (sampled, extrapolated: a lower bound).
 * Each runs in its own process; wall time, CPU time and the peak RSS of its process tree are
 * measured from outside. The peers' feature tables are checked against ours row by row.
 */
import { DuckDBInstance } from '@duckdb/node-api';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ensurePgliteTemplate, pgliteTemplateDir } from '#lib/adapters/local/pglite-feature-store.ts';
import { generateLoans } from '#lib/data/generate.ts';
import { projectPython } from '#lib/features/spark-engine.ts';
import { lastJson, measure, type Measured } from './measure.ts';

const AS_OF = '2024-12-31';
const here = import.meta.dirname;
const root = resolve(here, '../..');

interface Row {
  size: number;
  name: string;
  wallSeconds: number;
  cpuSeconds: number;
  peakRssMiB: number;
  rowsPerSecond: number;
  note: string;
  phases: Record<string, unknown>;
  mismatchedRows?: number;
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

async function mismatches(ours: string, peer: string): Promise<number> {
  const instance = await DuckDBInstance.create(':memory:', { threads: '2' });
  const conn = await instance.connect();
  const cols = (
    src: string,
  ) => `SELECT CAST(loan_id AS BIGINT) loan_id, CAST(id AS BIGINT) id, CAST(loan_date AS DATE) loan_date,
    CAST(status AS INT) status, CAST(nb_previous_loans AS INT) nb, CAST(avg_amount_loans_previous AS DOUBLE) avg, CAST(age AS INT) age,
    CAST(years_on_the_job AS INT) yoj, CAST(flag_own_car AS INT) car, CAST(days_since_previous_loan AS INT) dsp,
    CAST(amt_income_total AS DOUBLE) income FROM read_parquet('${src}')`;
  const r = await conn.runAndReadAll(
    `SELECT (SELECT count(*) FROM (${cols(ours)} EXCEPT ALL ${cols(peer)})) + (SELECT count(*) FROM (${cols(peer)} EXCEPT ALL ${cols(ours)}))`,
  );
  conn.closeSync();
  instance.closeSync();
  return Number(r.getRows()[0][0]);
}

function check(name: string, m: Measured): void {
  if (m.code !== 0) throw new Error(`${name} failed (exit ${m.code}):\n${m.stderr.slice(-3000)}`);
}

export async function main(args: string[]): Promise<void> {
  const loadStart = loadavg();
  const sizes = [Number(flag(args, 'rows', '777715')), Number(flag(args, 'big-rows', '10000000'))].filter(
    (n) => n > 0,
  );
  const loopSample = Number(flag(args, 'loop-sample', '1000'));
  const bigPeers = flag(args, 'big-peers', 'pandas');
  const python = projectPython();
  if (!python) throw new Error('the peers need the project Python (.venv): node scripts/python-env.mjs');
  const results: Row[] = [];
  // A new PGlite store is a copy of this machine's initdb template; building it is a one-time
  // cost per machine and PGlite version, measured here and reported apart, not in the runs.
  const template = pgliteTemplateDir();
  const templateStarted = performance.now();
  const templateBuilt = template !== false && (await ensurePgliteTemplate(template));
  const pgliteTemplate = {
    dir: template,
    builtNow: templateBuilt,
    ms: templateBuilt ? Math.round(performance.now() - templateStarted) : 0,
  };
  console.error(`[bench features] PGlite initdb template: ${JSON.stringify(pgliteTemplate)}`);

  for (const [index, size] of sizes.entries()) {
    const small = index === 0;
    const input = ensureData(size);
    const work = mkdtempSync(join(tmpdir(), 'bench-features-'));
    const add = (
      name: string,
      m: Measured,
      note: string,
      phases: Record<string, unknown>,
      seconds = m.wallSeconds,
    ): Row => {
      const row: Row = {
        size,
        name,
        wallSeconds: seconds,
        cpuSeconds: m.cpuSeconds,
        peakRssMiB: m.peakRssMiB,
        rowsPerSecond: size / seconds,
        note,
        phases,
      };
      results.push(row);
      console.error(
        `[bench features] ${size} rows  ${name.padEnd(28)} ${seconds.toFixed(1).padStart(7)} s wall  ${m.cpuSeconds.toFixed(1).padStart(6)} s cpu  ${m.peakRssMiB.toFixed(0).padStart(5)} MiB  ${note}`,
      );
      return row;
    };
    try {
      const oursOut = join(work, 'ours');
      const ours = await measure(process.execPath, [
        join(root, 'bin/run-ts.mjs'),
        join(here, 'our-path.ts'),
        input,
        oursOut,
        join(work, 'pglite'),
        AS_OF,
      ]);
      check('our path', ours);
      add(
        'ours (DuckDB + PGlite load)',
        ours,
        'validate + features + Parquet + online load',
        lastJson(ours.stdout),
      );

      const pandasOut = join(work, 'pandas');
      mkdirSync(pandasOut);
      const pandas = await measure(python, [join(here, 'peers/pandas_vectorized.py'), input, pandasOut]);
      check('pandas', pandas);
      const pandasRow = add(
        'pandas vectorized',
        pandas,
        'no validation, no online load',
        lastJson(pandas.stdout),
      );
      pandasRow.mismatchedRows = await mismatches(
        join(oursOut, 'features.parquet'),
        join(pandasOut, 'features.parquet'),
      );

      if (small || bigPeers === 'all') {
        const sparkOut = join(work, 'spark');
        const spark = await measure(
          python,
          [join(here, 'peers/pyspark_features.py'), input, sparkOut, '2g'],
          {
            ...process.env,
            PYSPARK_PYTHON: python,
          },
        );
        check('pyspark', spark);
        const sparkRow = add(
          'PySpark local[2]',
          spark,
          'no validation, no online load; JVM start included',
          lastJson(spark.stdout),
        );
        sparkRow.mismatchedRows = await mismatches(
          join(oursOut, 'features.parquet'),
          join(sparkOut, 'features', '*.parquet'),
        );
      }
      if (small || bigPeers === 'all') {
        const loop = await measure(python, [join(here, 'peers/pandas_loop.py'), input, String(loopSample)]);
        check('pandas loop', loop);
        const j = lastJson(loop.stdout);
        add(
          'pandas per-customer loop',
          loop,
          `EXTRAPOLATED from ${j.sampled} of ${j.customers} customers (lower bound)`,
          j,
          Number(j.extrapolatedTotalSeconds),
        );
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }

  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  mkdirSync(join(root, 'bench/results'), { recursive: true });
  const file = join(root, 'bench/results', `features-${stamp}.json`);
  writeFileSync(
    file,
    JSON.stringify(
      { args, pgliteTemplate, loadAverage: { start: loadStart, end: loadavg() }, results },
      null,
      2,
    ),
  );

  const lines = [
    '| rows | path | wall s | CPU s | peak RSS MiB | rows/s | ours faster by | rows differing from ours | note |',
    '|---|---|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const r of results) {
    const ours = results.find((x) => x.size === r.size && x.name.startsWith('ours')) as Row;
    lines.push(
      `| ${r.size.toLocaleString('en')} | ${r.name} | ${r.wallSeconds.toFixed(1)} | ${r.cpuSeconds.toFixed(1)} | ${r.peakRssMiB.toFixed(0)} | ${Math.round(r.rowsPerSecond).toLocaleString('en')} | ${r === ours ? '' : `${(r.wallSeconds / ours.wallSeconds).toFixed(1)}x`} | ${r.mismatchedRows ?? ''} | ${r.note} |`,
    );
  }
  console.log(lines.join('\n'));
  // Where our time goes: the steps timed inside our process (features build steps from the manifest).
  const s = (ms: unknown) => (typeof ms === 'number' ? `${(ms / 1000).toFixed(2)} s` : '');
  console.log(
    '\n| rows | process start (node, tsx, imports) | validate | history | features (join + ordered Parquet) | online rows | hash | PGlite open (new dir) | online load |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of results.filter((x) => x.name.startsWith('ours'))) {
    const b = (r.phases.buildMs ?? {}) as Record<string, number>;
    console.log(
      `| ${r.size.toLocaleString('en')} | ${s(r.phases.startMs)} | ${s(b.validate)} | ${s(b.history)} | ${s(b.features)} | ${s(b.online)} | ${s(b['hash outputs'])} | ${s(r.phases.storeOpenMs)} | ${s(r.phases.onlineLoadMs)} |`,
    );
  }
  console.log(
    `\nload average at start ${loadStart.map((x) => x.toFixed(2)).join(' ')}, at end ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  console.log(`raw results: ${file}`);
}
