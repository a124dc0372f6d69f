/**
 * `npm run bench -- tune [options]`: what tuning buys and what the fan-out costs.
 *
 *   --features FILE   a `features build` table (manifest next to it): the default training, the
 *                     search through the local state machine's Map, and the same search in one
 *                     process, each `credit-risk train` in its own process (0 skips)
 *   --trials N        configurations (default 16)
 *   --max-concurrency N  the Map's concurrency for the state-machine run (default 1)
 *   --real DIR        the CSVs of bench/tune/prepare_real.py: default vs tuned test AUC over
 *                     --seeds (each seed is the random split's, the GBDT's and the search's)
 *   --seeds 1,2,3,4,5
 *
 * Test AUC is on the trainer's own test split (never seen by the search, which scores on
 * validation). Wall times are the search alone (`tuning.seconds` of --json) and the whole command.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

interface TrainJson {
  auc: number;
  version: string;
  tuning?: { runner: string; seconds: number; trials: number; chosen: { id: number; validAuc: number } };
}

function arg(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
}

function train(argv: string[], home: string): { json: TrainJson; wall: number; load: number } {
  const started = performance.now();
  const r = spawnSync(process.execPath, ['bin/credit-risk.mjs', 'train', ...argv, '--json'], {
    encoding: 'utf8',
    env: { ...process.env, CREDIT_RISK_HOME: home },
    maxBuffer: 1 << 24,
  });
  if (r.status !== 0)
    throw new Error(`train ${argv.join(' ')} failed: ${r.stderr.split('\n').slice(-3).join(' | ')}`);
  return {
    json: JSON.parse(r.stdout.trim().split('\n').pop() as string) as TrainJson,
    wall: (performance.now() - started) / 1000,
    load: loadavg()[0],
  };
}

const REAL_TABLES: { file: string; target: string }[] = [
  { file: 'german-credit.csv', target: 'bad' },
  { file: 'uci-credit-card-6000.csv', target: 'default' },
];

export async function main(args: string[]): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'bench-tune-'));
  const home = join(work, 'home');
  const trials = arg(args, '--trials', '16');
  const results: Record<string, unknown> = { trials, startedAt: new Date().toISOString() };
  const features = arg(args, '--features', '0');
  if (features !== '0') {
    const input = ['--input', resolve(features)];
    const base = train([...input, '--out', join(work, 'default')], home);
    const sfn = train(
      [
        ...input,
        '--tune',
        '--trials',
        trials,
        '--max-concurrency',
        arg(args, '--max-concurrency', '1'),
        '--out',
        join(work, 'sfn'),
      ],
      home,
    );
    const inProcess = train(
      [...input, '--tune', '--trials', trials, '--in-process', '--out', join(work, 'in-process')],
      home,
    );
    const row = (name: string, r: typeof base) =>
      `${name.padEnd(26)} test AUC ${r.json.auc.toFixed(4)}  search ${r.json.tuning ? `${r.json.tuning.seconds.toFixed(1)} s` : '-'.padEnd(7)}  command ${r.wall.toFixed(1)} s  load ${r.load.toFixed(1)}`;
    console.log(row('defaults', base));
    console.log(row('tuned, state machine Map', sfn));
    console.log(row('tuned, in process', inProcess));
    console.log(
      `gain over the defaults: ${(sfn.json.auc - base.json.auc).toFixed(4)} test AUC; same model both ways: ${sfn.json.version === inProcess.json.version}; ` +
        `search wall time, state machine / in process: ${((sfn.json.tuning?.seconds ?? 0) / (inProcess.json.tuning?.seconds ?? 1)).toFixed(2)}x`,
    );
    results.features = { file: features, default: base, stateMachine: sfn, inProcess };
  }
  const real = arg(args, '--real', '');
  if (real) {
    const seeds = arg(args, '--seeds', '1,2,3,4,5').split(',');
    const tables: Record<string, unknown> = {};
    for (const { file, target } of REAL_TABLES) {
      const runs = seeds.map((seed) => {
        const common = ['--input', join(real, file), '--target', target, '--seed', seed, '--threads', '1'];
        const d = train([...common, '--out', join(work, `${file}-d${seed}`)], home);
        const t = train(
          [
            ...common,
            '--tune',
            '--trials',
            trials,
            '--tune-seed',
            seed,
            '--in-process',
            '--out',
            join(work, `${file}-t${seed}`),
          ],
          home,
        );
        return {
          seed,
          default: d.json.auc,
          tuned: t.json.auc,
          chosen: t.json.tuning?.chosen.id,
          searchSeconds: t.json.tuning?.seconds,
        };
      });
      const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
      const d = mean(runs.map((r) => r.default));
      const t = mean(runs.map((r) => r.tuned));
      console.log(
        `${file}: mean test AUC over seeds ${seeds.join(',')}: defaults ${d.toFixed(4)}, tuned ${t.toFixed(4)} (${(t - d).toFixed(4)})`,
      );
      for (const r of runs)
        console.log(
          `  seed ${r.seed}: ${r.default.toFixed(4)} -> ${r.tuned.toFixed(4)} (configuration ${r.chosen})`,
        );
      tables[file] = { runs, meanDefault: d, meanTuned: t };
    }
    results.real = tables;
  }
  mkdirSync('bench/results', { recursive: true });
  const out = join('bench/results', `tune-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`results: ${out}`);
}
