/**
 * The serve bench's data, built once per (customers, seed) and reused: a local home with features
 * published (PGlite online store + offline snapshot in the object store) and a model trained by
 * the project's trainer, registered and promoted; and the peers' side of the same data: the same
 * online rows in SQLite, a pickled scikit-learn RandomForestClassifier (default parameters)
 * trained on the same feature table, and the same model.onnx.
 *
 * Steps and what they use:
 *   loans      DuckDB SQL below (the data generator, lib/data, had not landed when this was
 *              written; the loans follow DATA.md's schema where serving needs it)
 *   features   DuckDB SQL below with the documented semantics (strictly-earlier loans, anniversary
 *              years, job start after the loan date -> missing); `features build` had not landed
 *   online     one row per customer in the online.parquet contract (lib/features/online.ts)
 *   publish    lib/features/publish.ts publishSnapshot into the home (PGlite + object store)
 *   model      lib/model/train.ts trainModel + writeModelDirectory, lib/registry register + promote
 *   peers      bench/peers/prepare_peers.py: SQLite from online.parquet, the random forest
 */
import { DuckDBInstance } from '@duckdb/node-api';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { publishSnapshot } from '#lib/features/publish.ts';
import { trainModel, writeModelDirectory } from '#lib/model/train.ts';
import { ModelRegistry } from '#lib/registry/registry.ts';
import { localHome } from '#local/home.ts';
import { createLocalRoot } from '#local/root.ts';

const repo = resolve(import.meta.dirname, '../..');

export interface PreparedData {
  /** CREDIT_RISK_HOME for `credit-risk serve`. */
  home: string;
  snapshotId: string;
  modelVersion: string;
  /** The registered model's directory (model.onnx + card.json), for the ONNX peer. */
  modelDir: string;
  /** The same online rows as the home's PGlite store, in SQLite. */
  sqlite: string;
  /** Pickled {model: RandomForestClassifier, features, threshold}. */
  forest: string;
  customers: number;
  loans: number;
  /** Customer ids in the online store (what the request mix asks for). */
  ids: string[];
  features: string[];
  seconds: { data: number; publish: number; train: number; peers: number };
}

/** Deterministic uniform [0, 1) from a row number and a salt, in SQL. */
const u = (expr: string, salt: number) => `((hash(${expr} * 7919 + ${salt}) % 1000003) / 1000003.0)`;

async function buildSnapshot(dir: string, customers: number, seed: number): Promise<{ loans: number; snapshotId: string }> {
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  const s = seed * 101;
  try {
    await c.run(`CREATE TABLE customer AS
      SELECT k, 5008804 + k AS id,
             1 + least(39, floor(-ln(1 - ${u('k', s + 1)}) * 7))::INTEGER AS n_loans,
             DATE '1950-01-01' + floor(${u('k', s + 2)} * 365 * 52)::INTEGER AS birthday,
             CASE WHEN ${u('k', s + 3)} < 0.17 THEN DATE '3024-06-01'
                  ELSE DATE '1995-01-01' + floor(${u('k', s + 4)} * 9000)::INTEGER END AS job_start_date,
             CASE WHEN ${u('k', s + 5)} < 0.4 THEN 'Y' ELSE 'N' END AS flag_own_car,
             round(27000 + exp(${u('k', s + 6)} * 3.2) * 12000, 2) AS amt_income_total
      FROM range(${customers}) t(k)`);
    await c.run(`CREATE TABLE loan AS
      SELECT row_number() OVER (ORDER BY c.k, j) AS loan_id, c.id, c.birthday, c.job_start_date, c.flag_own_car, c.amt_income_total,
             DATE '2019-01-01' + floor(${u('c.k * 64 + j', s + 7)} * 2000)::INTEGER AS loan_date,
             round(40 + ${u('c.k * 64 + j', s + 8)} * 160, 2) AS loan_amount,
             ${u('c.k * 64 + j', s + 9)} AS noise
      FROM customer c, range(40) r(j) WHERE j < c.n_loans`);
    // Point-in-time features: loans strictly before the loan's date (same-day loans do not count).
    await c.run(`CREATE TABLE features AS
      WITH daily AS (SELECT id, loan_date, count(*) AS n, sum(loan_amount) AS s FROM loan GROUP BY id, loan_date),
      cum AS (
        SELECT id, loan_date,
               coalesce(sum(n) OVER w, 0)::INTEGER AS nb_prev, coalesce(sum(s) OVER w, 0) AS sum_prev, max(loan_date) OVER w AS prev_date
        FROM daily WINDOW w AS (PARTITION BY id ORDER BY loan_date ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)),
      f AS (
        SELECT l.loan_id, CAST(l.id AS VARCHAR) AS id, l.loan_date, l.noise,
               c.nb_prev AS nb_previous_loans,
               CASE WHEN c.nb_prev = 0 THEN NULL ELSE c.sum_prev / c.nb_prev END AS avg_amount_loans_previous,
               (year(l.loan_date) - year(l.birthday) - CASE WHEN (month(l.loan_date), day(l.loan_date)) < (month(l.birthday), day(l.birthday)) THEN 1 ELSE 0 END)::INTEGER AS age,
               CASE WHEN l.job_start_date > l.loan_date THEN NULL
                    ELSE (year(l.loan_date) - year(l.job_start_date) - CASE WHEN (month(l.loan_date), day(l.loan_date)) < (month(l.job_start_date), day(l.job_start_date)) THEN 1 ELSE 0 END) END::INTEGER AS years_on_the_job,
               CASE WHEN l.flag_own_car = 'Y' THEN 1 ELSE 0 END AS flag_own_car,
               CASE WHEN c.prev_date IS NULL THEN NULL ELSE (l.loan_date - c.prev_date) END::INTEGER AS days_since_previous_loan,
               l.amt_income_total
        FROM loan l JOIN cum c ON c.id = l.id AND c.loan_date = l.loan_date)
      SELECT loan_id, id, loan_date,
             -- A known nonlinear label: young, new, car-less, short-tenure, frequent borrowers go bad more.
             CASE WHEN noise < 1 / (1 + exp(-(-3.0
                    + CASE WHEN nb_previous_loans = 0 THEN 0.6 ELSE -0.12 * least(nb_previous_loans, 8) END
                    + 0.9 * exp(-((age - 24) ^ 2) / 60.0)
                    - 0.5 * flag_own_car
                    + CASE WHEN years_on_the_job IS NULL THEN 0.4 ELSE -0.04 * least(years_on_the_job, 20) END
                    + CASE WHEN days_since_previous_loan IS NOT NULL AND days_since_previous_loan < 30 THEN 0.7 ELSE 0 END
                    + CASE WHEN avg_amount_loans_previous > 150 THEN 0.5 ELSE 0 END
                    - 0.25 * ln(amt_income_total / 30000)))) THEN 1 ELSE 0 END AS status,
             nb_previous_loans, avg_amount_loans_previous, age, years_on_the_job, flag_own_car, days_since_previous_loan, amt_income_total
      FROM f ORDER BY loan_id`);
    // The online row: what a NEW loan of the customer needs (lib/features/online.ts).
    await c.run(`CREATE TABLE online AS
      WITH last AS (SELECT id, max(loan_date) AS last_loan_date FROM loan GROUP BY id)
      SELECT CAST(l.id AS VARCHAR) AS id, count(*)::INTEGER AS nb_loans, sum(loan_amount) AS sum_loan_amount, last.last_loan_date,
             (count(*) FILTER (WHERE loan_date < last.last_loan_date))::INTEGER AS nb_loans_before_last_date,
             coalesce(sum(loan_amount) FILTER (WHERE loan_date < last.last_loan_date), 0) AS sum_loan_amount_before_last_date,
             max(loan_date) FILTER (WHERE loan_date < last.last_loan_date) AS previous_loan_date,
             arg_max(birthday, (loan_date, loan_id)) AS birthday, arg_max(job_start_date, (loan_date, loan_id)) AS job_start_date,
             arg_max(CASE WHEN flag_own_car = 'Y' THEN 1 ELSE 0 END, (loan_date, loan_id))::INTEGER AS flag_own_car,
             arg_max(amt_income_total, (loan_date, loan_id)) AS amt_income_total
      FROM loan l JOIN last USING (id) GROUP BY l.id, last.last_loan_date ORDER BY l.id`);
    await c.run(`COPY features TO '${join(dir, 'features.parquet')}' (FORMAT parquet)`);
    await c.run(`COPY online TO '${join(dir, 'online.parquet')}' (FORMAT parquet)`);
    const loans = Number((await c.runAndReadAll('SELECT count(*)::BIGINT AS n FROM features')).getRowObjects()[0].n);
    const snapshotId = `bench-c${customers}-s${seed}`;
    writeFileSync(
      join(dir, 'manifest.json'),
      JSON.stringify({ snapshotId, idColumns: ['loan_id', 'id'], timeColumn: 'loan_date', labelColumn: 'status', rows: loans }, null, 2),
    );
    return { loans, snapshotId };
  } finally {
    c.closeSync();
    db.closeSync();
  }
}

/** Builds (or reuses) the prepared home for these parameters. Progress goes to stderr. */
export async function prepareServeData(options: { dir: string; customers: number; seed: number; python: string }): Promise<PreparedData> {
  const dir = resolve(options.dir);
  const doneFile = join(dir, 'prepared.json');
  if (existsSync(doneFile)) {
    const done = JSON.parse(readFileSync(doneFile, 'utf8')) as PreparedData;
    if (done.customers === options.customers) {
      console.error(`[serve bench] reusing prepared data in ${dir}`);
      return done;
    }
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const snapshotDir = join(dir, 'snapshot');
  mkdirSync(snapshotDir);
  let t = performance.now();
  console.error(`[serve bench] generating loans and features for ${options.customers} customers`);
  const { loans, snapshotId } = await buildSnapshot(snapshotDir, options.customers, options.seed);
  const dataSeconds = (performance.now() - t) / 1000;

  t = performance.now();
  const home = localHome(join(dir, 'home'));
  const root = createLocalRoot(home);
  await publishSnapshot({ snapshotDir, objectStore: root.objectStore, featureStore: root.featureStore, onProgress: (m) => console.error(`[publish] ${m}`) });
  const ids = [];
  for (const row of JSON.parse(
    execFileSync(options.python, ['-c', `import pyarrow.parquet as pq, json; print(json.dumps(pq.read_table(${JSON.stringify(join(snapshotDir, 'online.parquet'))}, columns=['id']).column('id').to_pylist()))`], {
      maxBuffer: 1 << 28,
    }).toString(),
  ) as string[]) ids.push(row);
  // PGlite allows one process per data directory: close it before `credit-risk serve` opens it.
  await root.featureStore.close();
  const publishSeconds = (performance.now() - t) / 1000;

  t = performance.now();
  console.error(`[serve bench] training the GBDT on ${loans} loans (lib/model/train.ts)`);
  const trained = await trainModel({
    input: join(snapshotDir, 'features.parquet'),
    target: 'status',
    timeColumn: 'loan_date',
    ignore: ['loan_id', 'id'],
    seed: options.seed,
    onProgress: (line) => console.error(`[train] ${line}`),
    progressEvery: 50,
  });
  const modelDir = join(dir, 'model');
  await writeModelDirectory(modelDir, trained);
  const registry = new ModelRegistry(root.objectStore);
  await registry.register({ model: trained.modelBytes, card: readFileSync(join(modelDir, 'card.json')), report: readFileSync(join(modelDir, 'report.html')) });
  await registry.promote(trained.version, { why: 'serve bench champion' });
  const trainSeconds = (performance.now() - t) / 1000;

  t = performance.now();
  console.error('[serve bench] peers: SQLite online rows and the scikit-learn random forest (default parameters)');
  const sqlite = join(dir, 'online.sqlite');
  const forest = join(dir, 'reference_rf.pkl');
  execFileSync(
    options.python,
    [join(repo, 'bench/peers/prepare_peers.py'), join(snapshotDir, 'features.parquet'), join(snapshotDir, 'online.parquet'), sqlite, forest, JSON.stringify(trained.featureNames), String(options.seed)],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  const peersSeconds = (performance.now() - t) / 1000;

  const prepared: PreparedData = {
    home: home.root,
    snapshotId,
    modelVersion: trained.version,
    modelDir,
    sqlite,
    forest,
    customers: options.customers,
    loans,
    ids,
    features: trained.featureNames,
    seconds: { data: dataSeconds, publish: publishSeconds, train: trainSeconds, peers: peersSeconds },
  };
  writeFileSync(doneFile, JSON.stringify(prepared));
  return prepared;
}
