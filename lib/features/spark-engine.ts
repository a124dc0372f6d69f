import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FEATURE_SQL_PATH } from './feature-sql.ts';

/**
 * The Spark engine: jobs/glue/extract_features.py (the Glue job) run with the project's Python in
 * local mode. It reads validated rows from Parquet, runs the SAME feature SQL file and writes the
 * `features` and `online` results as Parquet directories under `outputDir`.
 */
export const GLUE_JOB_PATH = fileURLToPath(new URL('../../jobs/glue/extract_features.py', import.meta.url));

/** The project's Python: CREDIT_RISK_PYTHON, else ./.venv/bin/python. */
export function projectPython(): string | undefined {
  const fromEnv = process.env.CREDIT_RISK_PYTHON;
  if (fromEnv && existsSync(fromEnv)) return fromEnv;
  const local = resolve('.venv/bin/python');
  return existsSync(local) ? local : undefined;
}

export interface SparkRunOptions {
  /** Parquet file (or directory) of validated rows: the raw_valid table. */
  inputPath: string;
  outputDir: string;
  asOf: string;
  python?: string;
  /** Spark driver memory, default 1g. */
  driverMemory?: string;
  onStderrLine?: (line: string) => void;
}

export interface SparkRunResult {
  featuresDir: string;
  onlineDir: string;
}

export async function runSparkFeatures(options: SparkRunOptions): Promise<SparkRunResult> {
  const python = options.python ?? projectPython();
  if (!python) {
    throw new Error(
      'the spark engine needs the project Python (.venv with pyspark, or CREDIT_RISK_PYTHON): run `node scripts/python-env.mjs`',
    );
  }
  const args = [
    GLUE_JOB_PATH,
    '--input',
    options.inputPath,
    '--output',
    options.outputDir,
    '--sql_path',
    FEATURE_SQL_PATH,
    '--as_of',
    options.asOf,
    '--driver_memory',
    options.driverMemory ?? '1g',
  ];
  const stderrTail: string[] = [];
  const code = await new Promise<number>((resolvePromise, reject) => {
    const child = spawn(python, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PYSPARK_PYTHON: python, PYSPARK_DRIVER_PYTHON: python },
    });
    let pending = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        stderrTail.push(line);
        if (stderrTail.length > 40) stderrTail.shift();
        options.onStderrLine?.(line);
      }
    });
    child.stdout.resume();
    child.on('error', reject);
    child.on('close', (c) => resolvePromise(c ?? 1));
  });
  if (code !== 0) {
    throw new Error(`the Spark feature job failed (exit ${code}):\n${stderrTail.join('\n')}`);
  }
  return {
    featuresDir: resolve(options.outputDir, 'features'),
    onlineDir: resolve(options.outputDir, 'online'),
  };
}
