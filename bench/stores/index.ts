import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { PGlite } from '@electric-sql/pglite';
import { PgliteFeatureStore } from '#lib/adapters/local/pglite-feature-store.ts';
import { readOnlineRows } from '#lib/features/snapshot-reader.ts';

/**
 * `npm run bench -- stores [--customers 36000,460000]`: the local online store (PGlite).
 * Our path: online.parquet -> CSV written by DuckDB -> COPY into staging -> pkey -> swap (what
 * publish uses), the port's generic row path (parquet -> JS rows -> CSV -> COPY), and get() by
 * primary key. Side by side, the same rows loaded by two other PGlite strategies
 * (one JSON parameter through json_populate_recordset; multi-row parameterised INSERTs), so the
 * choice of COPY is measured, not assumed. Wall times; the machine may be shared (load printed).
 */
export async function main(args: string[]): Promise<void> {
  const i = args.indexOf('--customers');
  const sizes = (i >= 0 ? args[i + 1] : '36000,460000').split(',').map(Number);
  const dir = mkdtempSync(join(tmpdir(), 'cr-bench-stores-'));
  const results: Record<string, unknown>[] = [];
  const now = () => performance.now();
  const log = (m: string) => console.error(m);
  log(
    `load average at start: ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}`,
  );
  try {
    let t0 = now();
    const store = new PgliteFeatureStore(join(dir, 'pg'));
    await store.init();
    const openFresh = (now() - t0) / 1000;
    log(`PGlite open + schema on a fresh data dir: ${openFresh.toFixed(2)} s`);
    for (const n of sizes) {
      const file = join(dir, `online-${n}.parquet`);
      const db = await DuckDBInstance.create(':memory:');
      const c = await db.connect();
      await c.run(`COPY (SELECT CAST(5000000 + i AS VARCHAR) AS id, 21 AS nb_loans, 2100.123456 + i AS sum_loan_amount,
         DATE '2023-05-01' AS last_loan_date, 20 AS nb_loans_before_last_date, 2000.5 AS sum_loan_amount_before_last_date,
         DATE '2023-01-01' AS previous_loan_date, DATE '1980-02-29' AS birthday,
         CASE WHEN i % 5 = 0 THEN DATE '3020-01-01' ELSE DATE '2010-06-01' END AS job_start_date,
         CAST(i % 2 AS INTEGER) AS flag_own_car, 100000.0 + i AS amt_income_total FROM range(${n}) r(i)) TO '${file}' (FORMAT parquet)`);
      c.closeSync();
      db.closeSync();

      t0 = now();
      let rows = 0;
      for await (const b of readOnlineRows(file, 'x')) rows += b.length;
      const readSeconds = (now() - t0) / 1000;
      t0 = now();
      await store.replaceSnapshot(`rows-${n}`, readOnlineRows(file, `rows-${n}`));
      const rowPathSeconds = (now() - t0) / 1000;
      t0 = now();
      await store.replaceSnapshotFromParquet(`bench-${n}`, file);
      const loadSeconds = (now() - t0) / 1000;
      const ids = Array.from({ length: 5000 }, (_, k) => String(5000000 + ((k * 7919) % n)));
      for (const id of ids.slice(0, 200)) await store.get(id);
      t0 = now();
      for (const id of ids) await store.get(id);
      const getMicros = ((now() - t0) / ids.length) * 1000;
      log(
        `${n} customers: ours (DuckDB parquet -> CSV, COPY, pkey, swap) ${loadSeconds.toFixed(2)} s = ${Math.round(rows / loadSeconds)} rows/s; ` +
          `row path (parquet -> JS rows ${readSeconds.toFixed(2)} s, CSV, COPY, pkey, swap) ${rowPathSeconds.toFixed(2)} s; get() ${getMicros.toFixed(0)} us`,
      );
      results.push({
        customers: n,
        path: 'ours: replaceSnapshotFromParquet (DuckDB CSV + COPY + rename swap)',
        loadSeconds,
        getMicros,
      });
      results.push({
        customers: n,
        path: 'ours, port row path: replaceSnapshot(readOnlineRows)',
        loadSeconds: rowPathSeconds,
        readSeconds,
      });

      // Peers: the same rows into a plain table by other PGlite bulk strategies.
      const reader = await DuckDBInstance.create(':memory:');
      const rc = await reader.connect();
      const res =
        await rc.runAndReadAll(`SELECT id, 'x', nb_loans, sum_loan_amount, strftime(last_loan_date, '%Y-%m-%d'), nb_loans_before_last_date,
        sum_loan_amount_before_last_date, strftime(previous_loan_date, '%Y-%m-%d'), strftime(birthday, '%Y-%m-%d'),
        strftime(job_start_date, '%Y-%m-%d'), flag_own_car, amt_income_total FROM read_parquet('${file}')`);
      const all = res.getRowsJS();
      rc.closeSync();
      reader.closeSync();
      const peerDb = await PGlite.create(join(dir, `peer-${n}`));
      const ddl = `(id text, snapshot_id text, nb_loans integer, sum_loan_amount double precision, last_loan_date date,
        nb_loans_before_last_date integer, sum_loan_amount_before_last_date double precision, previous_loan_date date,
        birthday date, job_start_date date, flag_own_car smallint, amt_income_total double precision)`;
      await peerDb.exec(`CREATE TABLE j ${ddl}; CREATE TABLE v ${ddl}`);
      const names = [
        'id',
        'snapshot_id',
        'nb_loans',
        'sum_loan_amount',
        'last_loan_date',
        'nb_loans_before_last_date',
        'sum_loan_amount_before_last_date',
        'previous_loan_date',
        'birthday',
        'job_start_date',
        'flag_own_car',
        'amt_income_total',
      ];
      t0 = now();
      for (let k = 0; k < all.length; k += 50_000) {
        const json = JSON.stringify(
          all.slice(k, k + 50_000).map((r) => Object.fromEntries(names.map((nm, j) => [nm, r[j]]))),
        );
        await peerDb.query('INSERT INTO j SELECT * FROM json_populate_recordset(NULL::j, $1::json)', [json]);
      }
      const jsonSeconds = (now() - t0) / 1000;
      t0 = now();
      for (let k = 0; k < all.length; k += 1000) {
        const chunk = all.slice(k, k + 1000);
        const values = chunk
          .map((_, r) => `(${names.map((__, j) => `$${r * names.length + j + 1}`).join(',')})`)
          .join(',');
        await peerDb.query(`INSERT INTO v VALUES ${values}`, chunk.flat());
      }
      const insertSeconds = (now() - t0) / 1000;
      await peerDb.close();
      log(
        `  peers (insert only, no pkey/swap): json_populate_recordset ${jsonSeconds.toFixed(2)} s, multi-row INSERT ${insertSeconds.toFixed(2)} s`,
      );
      results.push({ customers: n, path: 'peer: json_populate_recordset', loadSeconds: jsonSeconds });
      results.push({ customers: n, path: 'peer: multi-row INSERT x1000', loadSeconds: insertSeconds });
    }
    t0 = now();
    await store.close();
    const reopened = new PgliteFeatureStore(join(dir, 'pg'));
    await reopened.get('5000001');
    const reopenSeconds = (now() - t0) / 1000;
    await reopened.close();
    log(`reopen an existing data dir + first get: ${reopenSeconds.toFixed(2)} s`);
    const out = join(import.meta.dirname, '..', 'results');
    mkdirSync(out, { recursive: true });
    const file = join(out, `stores-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(
      file,
      JSON.stringify(
        {
          loadavg: loadavg(),
          openFreshSeconds: openFresh,
          reopenSeconds,
          peakRssMb: process.resourceUsage().maxRSS / 1024,
          results,
        },
        null,
        2,
      ),
    );
    log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB; results: ${file}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
