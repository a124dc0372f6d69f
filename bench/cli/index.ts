/**
 * `npm run bench -- cli [--runs N]`: the start-up of the `credit-risk` command as a user runs it
 * (whole processes, wall time), beside the machine's floor: `node -e 0`, a Node process that does
 * nothing. Targets: `--version`, `--help`, `features get --help` (one command's module loaded),
 * the compiled CLI (dist/cli, scripts/build-cli.mjs) and the sources through tsx
 * (CREDIT_RISK_FROM_SOURCE=1), alternated run by run so both see the same machine.
 * Goals (issue 22): --version <= 0.15 s, --help <= 0.3 s.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');
const BIN = join(root, 'bin/credit-risk.mjs');

interface Target {
  name: string;
  args: string[];
  env?: Record<string, string>;
}

const TARGETS: Target[] = [
  { name: 'floor: node -e 0', args: ['-e', '0'] },
  { name: '--version', args: [BIN, '--version'] },
  { name: '--help (compiled)', args: [BIN, '--help'] },
  { name: '--help (sources, tsx)', args: [BIN, '--help'], env: { CREDIT_RISK_FROM_SOURCE: '1' } },
  { name: 'features get --help (compiled)', args: [BIN, 'features', 'get', '--help'] },
  {
    name: 'features get --help (sources, tsx)',
    args: [BIN, 'features', 'get', '--help'],
    env: { CREDIT_RISK_FROM_SOURCE: '1' },
  },
];

function once(t: Target): number {
  const started = performance.now();
  const r = spawnSync(process.execPath, t.args, { env: { ...process.env, ...t.env }, stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`${t.name} exited ${r.status}`);
  return (performance.now() - started) / 1000;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

export async function main(args: string[]): Promise<void> {
  const at = args.indexOf('--runs');
  const runs = at >= 0 ? Number(args[at + 1]) : 15;
  const build = spawnSync(process.execPath, [join(root, 'scripts/build-cli.mjs')], { stdio: 'inherit' });
  if (build.status !== 0) throw new Error('scripts/build-cli.mjs failed');
  const times = new Map<string, number[]>(TARGETS.map((t) => [t.name, []]));
  for (const t of TARGETS) once(t); // warm the file cache
  for (let i = 0; i < runs; i++) for (const t of TARGETS) times.get(t.name)!.push(once(t));
  const floor = median(times.get(TARGETS[0].name)!);
  const rows = TARGETS.map((t) => {
    const xs = times.get(t.name)!;
    return {
      target: t.name,
      medianSeconds: median(xs),
      minSeconds: Math.min(...xs),
      overFloor: median(xs) / floor,
    };
  });
  console.log(`runs: ${runs} each, alternated; wall seconds`);
  for (const r of rows)
    console.log(
      `${r.target.padEnd(38)} median ${r.medianSeconds.toFixed(3)}  min ${r.minSeconds.toFixed(3)}  x floor ${r.overFloor.toFixed(1)}`,
    );
  mkdirSync(join(root, 'bench/results'), { recursive: true });
  const file = join(root, `bench/results/cli-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ runs, rows }, null, 2));
  console.log(`results: ${file}`);
}
