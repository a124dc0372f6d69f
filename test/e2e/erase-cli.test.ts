import { beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import { parseCsvFields } from '#lib/privacy/csv-records.ts';
import { logPseudonym } from '#lib/privacy/log-pseudonym.ts';
import { logIdKeyFile } from '#local/root.ts';
import { freshHome } from '../support/home.ts';
import { SMALL_RUN_GATE } from '../support/gates.ts';

/**
 * The acceptance test of `credit-risk data erase` (issue 21): a home made by the real commands
 * (a training run with generated data, a second raw file with dirty rows built and published,
 * batch scoring, serve answering /predict for the customer, a drift check), plus the stores that
 * do not exist yet but have a rule (a rotated gzip log). Before the erase the
 * customer's id is in a dozen places; after it, no file of the home holds it: every file's bytes
 * are searched for the id as a plain substring (gzip files decompressed), and every Parquet file
 * is read with DuckDB, every column cast to text (its pages are compressed, its bytes hide them).
 */
const home = freshHome('cr-e2e-erase-');
// INFO: the handlers' request logs are part of what the erase must clean (tests default to SILENT).
const env = {
  ...process.env,
  CREDIT_RISK_HOME: home.root,
  CREDIT_RISK_WAIT_SCALE: '0',
  POWERTOOLS_LOG_LEVEL: 'INFO',
};
const GATE = JSON.stringify(SMALL_RUN_GATE);

/** The customer as the home's request logs name them (its key: keys/log-id.key). */
function pseudonym(customer: string): string {
  return logPseudonym(customer, readFileSync(logIdKeyFile(home.root)).toString('hex'));
}

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/credit-risk.mjs', ...args], {
    encoding: 'utf8',
    env,
    timeout: 180_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ok(...args: string[]): string {
  const r = cli(...args);
  if (r.code !== 0) throw new Error(`credit-risk ${args.join(' ')} exited ${r.code}:\n${r.stderr}`);
  return r.stdout;
}

function allFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/** Every file of the home holding the id: its bytes (gunzipped), or any Parquet value as text. */
async function filesHolding(id: string): Promise<string[]> {
  const needle = Buffer.from(id);
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const conn = await instance.connect();
  const hits: string[] = [];
  try {
    for (const file of allFiles(home.root)) {
      let bytes = readFileSync(file);
      if (file.endsWith('.gz')) bytes = gunzipSync(bytes);
      const rel = file.slice(home.root.length + 1);
      if (bytes.includes(needle)) {
        hits.push(rel);
        continue;
      }
      if (!file.endsWith('.parquet')) continue;
      const source = `read_parquet('${file.replaceAll("'", "''")}', hive_partitioning = false)`;
      const columns = (await conn.runAndReadAll(`DESCRIBE SELECT * FROM ${source}`))
        .getRowObjectsJS()
        .map((c) => `"${String(c.column_name)}"`);
      const any = columns.map((c) => `contains(CAST(${c} AS VARCHAR), '${id}')`).join(' OR ');
      const n = (
        await conn.runAndReadAll(`SELECT count(*)::INTEGER AS n FROM ${source} WHERE ${any}`)
      ).getRowObjectsJS()[0].n;
      if (Number(n) > 0) hits.push(`${rel} (values)`);
    }
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
  return hits;
}

/** Starts `credit-risk serve`, asks /predict for each id, stops it (SIGTERM: its logs are flushed). */
async function serveRequests(ids: string[]): Promise<number[]> {
  const child = spawn(process.execPath, ['bin/credit-risk.mjs', 'serve', '--workers', '1', '--port', '0'], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let err = '';
      const timer = setTimeout(() => reject(new Error(`serve did not start:\n${err}`)), 60_000);
      child.stderr.on('data', (chunk: Buffer) => {
        err += chunk.toString();
        const m = /listening on (http:\/\/[^\s]+)/.exec(err);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      child.once('exit', (code) => reject(new Error(`serve exited ${code}:\n${err}`)));
    });
    const statuses: number[] = [];
    for (const id of ids) {
      const r = await fetch(`${url}/predict`, { method: 'POST', body: JSON.stringify({ id }) });
      await r.text();
      statuses.push(r.status);
    }
    return statuses;
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
}

let id = '';
let other = '';
let oldBuild = '';
let before: string[] = [];

beforeAll(async () => {
  // 1. A training run on generated data: data/, raw/, a snapshot, a champion, the online store.
  ok(
    'pipeline',
    'run',
    '--rows',
    '4000',
    '--train',
    '{"numTrees":3,"earlyStoppingRounds":0}',
    '--gate',
    GATE,
    '--no-traffic',
  );
  // 2. Another raw file with dirty rows (the same ids: generated customers start at 5008804),
  //    built and published: a second snapshot, with a quarantine file.
  const dirty = join(home.store, 'raw', 'dirty.csv');
  ok('data', 'generate', '--rows', '3000', '--seed', '7', '--dirty-rate', '0.05', '--out', dirty);
  oldBuild = mkdtempSync(join(tmpdir(), 'cr-e2e-erase-build-'));
  ok('features', 'build', '--input', dirty, '--as-of', '2022-06-01', '--out', oldBuild);
  ok('features', 'publish', '--snapshot', oldBuild);
  // 3. Batch predictions of the current snapshot.
  ok('pipeline', 'batch');

  // The customer: in the generated data, and with a quarantined record (id intact) in the dirty file.
  const current = JSON.parse(readFileSync(join(home.store, 'features', 'CURRENT'), 'utf8')) as {
    snapshotId: string;
  };
  const quarantine = readFileSync(
    join(home.store, 'quarantine', `snapshot=${current.snapshotId}`, 'quarantine.csv'),
    'utf8',
  );
  const generated = new Set(
    readFileSync(join(home.data, 'loans-4000-seed42.csv'), 'utf8')
      .split('\n')
      .slice(1)
      .map((l) => l.split(',')[1]),
  );
  const quarantined = quarantine
    .split(/\n(?=\d+,)/)
    .slice(1)
    .map((r) => parseCsvFields(parseCsvFields(r)[2] ?? '')[1])
    .filter((v): v is string => v !== undefined && /^\d{7}$/.test(v) && generated.has(v) && v !== '5008827');
  id = [...new Set(quarantined)].sort()[0];
  other = [...generated].find((v) => /^\d{7}$/.test(v) && v !== id && !v.includes(id) && !id.includes(v))!;
  expect(id).toMatch(/^\d{7}$/);

  // 4. serve answers /predict for them (logs/predict.jsonl names the customer, and the prediction
  // log store/predictions-log/date=<today>/<pid>.jsonl records both answers), then a drift check.
  expect(await serveRequests([id, other])).toEqual([200, 200]);
  ok('monitor', 'drift');
  // 5. A store with a rule that nothing writes yet: a rotated, compressed log.
  writeFileSync(
    join(home.root, 'logs', 'predict.jsonl.1.gz'),
    gzipSync(`{"customerId":"${id}","n":1}\n{"customerId":"${other}","n":2}\n`),
  );
  before = await filesHolding(id);
}, 600_000);

describe('credit-risk data erase --id (CLI, every store of a real home)', () => {
  it('before: the id is in the raw zone, generated data, snapshots, quarantine, predictions, logs and PGlite', () => {
    const where = (re: RegExp) => before.filter((f) => re.test(f));
    expect(where(/^data\/loans-4000-seed42\.csv$/)).toHaveLength(1);
    expect(where(/^store\/raw\/(loans-4000-seed42|dirty)\.csv$/)).toHaveLength(2);
    expect(where(/^store\/features\/snapshot=[^/]+\/part-00000\.parquet \(values\)$/)).toHaveLength(2);
    expect(where(/^store\/features\/snapshot=[^/]+\/online\.parquet \(values\)$/)).toHaveLength(2);
    expect(where(/^store\/quarantine\/snapshot=[^/]+\/quarantine\.csv$/).length).toBeGreaterThanOrEqual(1);
    expect(where(/^store\/predictions\/.+\.parquet \(values\)$/)).toHaveLength(1);
    expect(where(/^store\/predictions-log\//)).toHaveLength(1);
    // Request logs name the customer by a keyed pseudonym, never the id (lib/privacy/log-pseudonym.ts).
    expect(where(/^logs\/predict\.jsonl$/)).toHaveLength(0);
    expect(readFileSync(join(home.root, 'logs', 'predict.jsonl'), 'utf8')).toContain(pseudonym(id));
    expect(where(/^logs\/predict\.jsonl\.1\.gz$/)).toHaveLength(1);
    expect(where(/^pglite\//).length).toBeGreaterThan(0);
  });

  it('after: exit 0, its own scan finds nothing, and no byte or Parquet value of any file holds the id', async () => {
    const r = cli('data', 'erase', '--id', id, '--reason', 'GDPR art. 17, ticket 42', '--json');
    expect({ code: r.code, stderr: r.code === 0 ? '' : r.stderr }).toEqual({ code: 0, stderr: '' });
    const result = JSON.parse(r.stdout);
    expect(result.verify).toEqual({ files: [], inCode: [] });
    expect(result.online).toEqual({ deleted: 1 });
    expect(result.snapshots).toHaveLength(2);
    expect(result.current.after).not.toBe(result.current.before);
    expect(result.raw.map((f: { key: string }) => f.key).sort()).toEqual([
      'raw/dirty.csv',
      'raw/loans-4000-seed42.csv',
    ]);
    expect(result.logs.map((f: { file: string }) => f.file).sort()).toEqual([
      'logs/predict.jsonl',
      'logs/predict.jsonl.1.gz',
    ]);
    expect(result.predictionLog).toEqual([
      { key: expect.stringMatching(/^predictions-log\/date=\d{4}-\d{2}-\d{2}\/\d+\.jsonl$/), removed: 1 },
    ]);
    expect(r.stdout).not.toContain(id);
    expect(await filesHolding(id)).toEqual([]);
    expect(readFileSync(join(home.root, 'logs', 'predict.jsonl'), 'utf8')).not.toContain(pseudonym(id));
  }, 300_000);

  it('the others are untouched: served, in the logs, in the rewritten snapshot; the customer is unknown', async () => {
    expect(JSON.parse(ok('features', 'get', '--id', other)).id).toBe(other);
    const unknown = cli('features', 'get', '--id', id);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('UNKNOWN_CUSTOMER');
    expect(readFileSync(join(home.root, 'logs', 'predict.jsonl'), 'utf8')).toContain(pseudonym(other));
    expect(
      JSON.parse(ok('monitor', 'predictions', '--json')).records.map(
        (r: { customerId: string }) => r.customerId,
      ),
    ).toEqual([other]);
    expect(gunzipSync(readFileSync(join(home.root, 'logs', 'predict.jsonl.1.gz'))).toString()).toBe(
      `{"customerId":"${other}","n":2}\n`,
    );
    expect(await filesHolding(other)).toEqual(expect.arrayContaining(['data/loans-4000-seed42.csv']));
  });

  it('the audit entry says erase, with a keyed hash and the old -> new ids; rollback follows the new ids', () => {
    const history = ok('features', 'history');
    expect(history.split('\n')[1]).toMatch(/^\*\s+\S+\s+[0-9a-f]{16}\s+erase\s/);
    const audit = join(home.store, 'features', 'audit');
    const newest = readdirSync(audit).sort().at(-1)!;
    const entry = JSON.parse(readFileSync(join(audit, newest), 'utf8'));
    expect(entry).toMatchObject({ action: 'erase', reason: 'GDPR art. 17, ticket 42' });
    expect(entry.erasure.subject).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(Object.keys(entry.erasure.replaced)).toHaveLength(2);
    expect(entry.publisher).toMatch(/: credit-risk data erase$/);
    const rolled = cli('features', 'rollback', '--json');
    expect(rolled.code).toBe(0);
    expect(Object.values(entry.erasure.replaced)).toContain(JSON.parse(rolled.stdout).snapshotId);
  });

  it('the build directory of an erased snapshot cannot be published again (SNAPSHOT_ERASED)', () => {
    const r = cli('features', 'publish', '--snapshot', oldBuild);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('error [SNAPSHOT_ERASED]');
  });

  it('erasing again is a success that finds nothing left', () => {
    const again = JSON.parse(ok('data', 'erase', '--id', id, '--json'));
    expect(again).toMatchObject({ online: { deleted: 0 }, snapshots: [], raw: [], verify: { files: [] } });
  });
});
