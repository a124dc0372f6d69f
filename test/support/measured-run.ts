import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface MeasuredRun {
  status: number | null;
  stdout: string;
  stderr: string;
  seconds: number;
  /** Peak resident set size in bytes, null where neither /usr/bin/time nor /proc exists. */
  peakRss: number | null;
}

const GNU_TIME = '/usr/bin/time';

/**
 * Runs `node <args>` and measures its wall time and peak RSS: under GNU time where it exists,
 * else by sampling VmHWM from /proc every 20 ms. `scratchDir` holds time's output file.
 */
export async function measuredRun(
  args: string[],
  options: { scratchDir: string; cwd?: string; env?: NodeJS.ProcessEnv },
): Promise<MeasuredRun> {
  const rssFile = join(options.scratchDir, `rss-${Date.now()}-${Math.random()}.txt`);
  const timed = existsSync(GNU_TIME);
  const spawnOptions = { cwd: options.cwd, env: options.env };
  const child = timed
    ? spawn(GNU_TIME, ['-f', '%M', '-o', rssFile, process.execPath, ...args], spawnOptions)
    : spawn(process.execPath, args, spawnOptions);
  const started = performance.now();
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let sampled: number | null = null;
  const sample = setInterval(() => {
    if (timed || child.pid === undefined) return;
    try {
      const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (hwm) sampled = Math.max(sampled ?? 0, Number(hwm[1]) * 1024);
    } catch {
      // the child has exited between two samples
    }
  }, 20);
  const status = await new Promise<number | null>((ok) => child.on('close', (code) => ok(code)));
  clearInterval(sample);
  const seconds = (performance.now() - started) / 1000;
  const peakRss = timed ? Number(readFileSync(rssFile, 'utf8').trim().split('\n').at(-1)) * 1024 : sampled;
  return { status, stdout, stderr, seconds, peakRss };
}
