// The floor: bare DuckDB, the engine our build runs on, doing only the work whose output we
// compare, as one SQL script from a plain Node process (no TypeScript, no CLI, no validation, no
// hashes, no manifest). CSV read with typed columns (only the ones the features need) ->
// features.parquet (ordered by loan_date, loan_id, zstd) + online.parquet (ordered by id), the
// same rows and values as ours. What it cannot skip is what any program doing this work pays on
// this machine; `ours / floor` says how close we are to it.
//
// usage: node bench/features/peers/duckdb_floor.mjs INPUT.csv OUTDIR -> {"seconds": {...}, "rows": N}
import { DuckDBInstance } from '@duckdb/node-api';

const t0 = performance.now();
const [input, out] = process.argv.slice(2);
const q = (s) => `'${s.replace(/'/g, "''")}'`;
const wholeYears = (from, to) => `CAST(year(${to}) - year(${from})
  - CASE WHEN month(${to}) < month(${from}) OR (month(${to}) = month(${from}) AND day(${to}) < day(${from})) THEN 1 ELSE 0 END AS INT)`;
const sql = `
CREATE TEMP TABLE loans AS
SELECT loan_id, id, loan_date, status, birthday, job_start_date, flag_own_car, amt_income_total, code_gender,
  CAST(floor(loan_amount * 1e6 + 0.5) AS BIGINT) AS micro,
  ${wholeYears('birthday', 'loan_date')} AS age
FROM read_csv(${q(input)}, header = true, auto_detect = false, delim = ',', quote = '"',
  columns = {'loan_id': 'BIGINT', 'id': 'BIGINT', 'code_gender': 'VARCHAR', 'flag_own_car': 'VARCHAR',
    'flag_own_realty': 'VARCHAR', 'cnt_children': 'VARCHAR', 'amt_income_total': 'DOUBLE',
    'name_income_type': 'VARCHAR', 'name_education_type': 'VARCHAR', 'name_family_status': 'VARCHAR',
    'name_housing_type': 'VARCHAR', 'days_birth': 'VARCHAR', 'days_employed': 'VARCHAR',
    'flag_mobil': 'VARCHAR', 'flag_work_phone': 'VARCHAR', 'flag_phone': 'VARCHAR', 'flag_email': 'VARCHAR',
    'occupation_type': 'VARCHAR', 'cnt_fam_members': 'VARCHAR', 'status': 'INTEGER', 'birthday': 'DATE',
    'job_start_date': 'DATE', 'loan_date': 'DATE', 'loan_amount': 'DOUBLE'});
CREATE TEMP TABLE history AS
SELECT id, loan_date, n, s,
  coalesce(sum(n) OVER w, 0) AS prev_n,
  coalesce(sum(s) OVER w, 0) AS prev_s,
  lag(loan_date) OVER (PARTITION BY id ORDER BY loan_date) AS prev_day
FROM (SELECT id, loan_date, count(*) AS n, sum(micro) AS s FROM loans GROUP BY id, loan_date)
WINDOW w AS (PARTITION BY id ORDER BY loan_date ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING);
COPY (
  SELECT l.loan_id, l.id, l.loan_date, l.status,
    CAST(h.prev_n AS INT) AS nb_previous_loans,
    CASE WHEN h.prev_n = 0 THEN NULL ELSE (CAST(h.prev_s AS DOUBLE) / 1e6) / CAST(h.prev_n AS DOUBLE) END AS avg_amount_loans_previous,
    l.age,
    CASE WHEN l.job_start_date > l.loan_date THEN NULL ELSE ${wholeYears('l.job_start_date', 'l.loan_date')} END AS years_on_the_job,
    CASE l.flag_own_car WHEN 'Y' THEN 1 WHEN 'N' THEN 0 END AS flag_own_car,
    CAST(l.loan_date - h.prev_day AS INT) AS days_since_previous_loan,
    l.amt_income_total,
    l.code_gender,
    CASE WHEN l.age < 25 THEN '<25' WHEN l.age < 35 THEN '25-34' WHEN l.age < 45 THEN '35-44'
      WHEN l.age < 55 THEN '45-54' WHEN l.age < 65 THEN '55-64' ELSE '65+' END AS age_band
  FROM loans l JOIN history h USING (id, loan_date)
  ORDER BY l.loan_date, l.loan_id
) TO ${q(`${out}/features.parquet`)} (FORMAT parquet, COMPRESSION zstd);
COPY (
  SELECT CAST(l.id AS VARCHAR) AS id, CAST(t.n AS INT) AS nb_loans, CAST(t.s AS DOUBLE) / 1e6 AS sum_loan_amount,
    l.loan_date AS last_loan_date, CAST(h.prev_n AS INT) AS nb_loans_before_last_date,
    CAST(h.prev_s AS DOUBLE) / 1e6 AS sum_loan_amount_before_last_date, h.prev_day AS previous_loan_date,
    l.birthday, l.job_start_date, CASE l.flag_own_car WHEN 'Y' THEN 1 WHEN 'N' THEN 0 END AS flag_own_car,
    l.amt_income_total
  FROM (SELECT * FROM loans QUALIFY row_number() OVER (PARTITION BY id ORDER BY loan_date DESC, loan_id DESC) = 1) l
  JOIN (SELECT id, sum(n) AS n, sum(s) AS s FROM history GROUP BY id) t ON t.id = l.id
  JOIN history h ON h.id = l.id AND h.loan_date = l.loan_date
  ORDER BY l.id
) TO ${q(`${out}/online.parquet`)} (FORMAT parquet, COMPRESSION zstd);
`;
const instance = await DuckDBInstance.create(':memory:', { threads: '2', preserve_insertion_order: 'false' });
const conn = await instance.connect();
const t1 = performance.now();
await conn.run(sql);
const rows = Number((await conn.runAndReadAll('SELECT count(*) FROM loans')).getRows()[0][0]);
const t2 = performance.now();
conn.closeSync();
instance.closeSync();
console.log(
  JSON.stringify({
    seconds: {
      start: +(t0 / 1000).toFixed(3),
      open: +((t1 - t0) / 1000).toFixed(3),
      sql: +((t2 - t1) / 1000).toFixed(3),
    },
    rows,
  }),
);
