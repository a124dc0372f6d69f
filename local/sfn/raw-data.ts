import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateLoans, type GenerateResult } from '#lib/data/generate.ts';
import type { LocalRoot } from '#local/root.ts';

/**
 * The raw data a local run trains on: generated once per (rows, seed) into home.data, with the
 * generator's summary beside it, and put into the local raw zone (the object store's raw/ keys,
 * as S3 raw/ in AWS). A second call with the same parameters reuses both.
 */
export interface RawData {
  key: string;
  file: string;
  rows: number;
  customers: number;
  lastLoanDate: string;
  generated: boolean;
  seconds: number;
}

export async function ensureGeneratedRaw(
  root: LocalRoot,
  options: { rows: number; seed: number },
): Promise<RawData> {
  const started = performance.now();
  const name = `loans-${options.rows}-seed${options.seed}.csv`;
  const file = join(root.home.data, name);
  const summaryFile = `${file}.json`;
  let summary: GenerateResult;
  let generated = false;
  if (existsSync(file) && existsSync(summaryFile)) {
    summary = JSON.parse(readFileSync(summaryFile, 'utf8')) as GenerateResult;
  } else {
    summary = generateLoans({ rows: options.rows, seed: options.seed, out: file });
    // The summary is written last: a file without it is regenerated (a crash mid-way).
    writeFileSync(`${summaryFile}.tmp-${process.pid}`, JSON.stringify(summary, null, 2));
    renameSync(`${summaryFile}.tmp-${process.pid}`, summaryFile);
    generated = true;
  }
  const key = `raw/${name}`;
  const stored = await root.objectStore.head(key);
  if (!stored || generated) await root.objectStore.upload(file, key, { contentType: 'text/csv' });
  return {
    key,
    file,
    rows: summary.rows,
    customers: summary.customers,
    lastLoanDate: summary.lastLoanDate,
    generated,
    seconds: (performance.now() - started) / 1000,
  };
}
