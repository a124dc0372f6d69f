-- The feature definition: ONE SQL text, run unchanged by DuckDB (lib/features/duckdb-engine.ts)
-- and by Spark SQL (jobs/glue/extract_features.py). Semantics: docs/DATA.md and
-- lib/features/catalog.ts; the TypeScript reference (lib/features/reference.ts) says the same
-- thing in plain code and tests hold all three to identical rows.
--
-- Input: a table or view `raw_valid` holding the validated raw loans (lib/features/raw-schema.ts).
-- Statements are separated by `-- name: <name>` lines; `view` statements create temporary views,
-- `features` and `online` are the two queries whose results are written out.
--
-- Written in the subset both engines understand identically:
-- - no engine-specific functions: year(), month(), dayofmonth(), lag(), count(), sum(), casts;
-- - every output column is CAST to its final type (DuckDB's year() is BIGINT, Spark's INT; DuckDB
--   sums BIGINT into HUGEINT);
-- - `date - date` is a BIGINT in DuckDB and an INTERVAL DAY in Spark; CAST(... AS INT) is the
--   number of days in both;
-- - amounts are summed as integer micro-units (BIGINT), never as doubles: integer sums do not
--   depend on the order the engine adds rows in, so both engines (and the online vector, which
--   divides the same two numbers) get bit-identical averages. Amounts keep 6 decimals.
-- - divisions by zero are avoided with CASE (DuckDB returns Infinity, Spark NULL).

-- name: feature_loans
-- The loans with the columns the features need, amounts in micro-units (round half up), and the
-- applicant's age at the loan date computed once (the age feature and the protected age band).
-- Whole years use anniversary semantics: the anniversary day itself counts, and a 29 February
-- anniversary falls on 1 March in non-leap years.
CREATE OR REPLACE TEMPORARY VIEW feature_loans AS
SELECT
  loan_id,
  id,
  loan_date,
  status,
  birthday,
  job_start_date,
  flag_own_car,
  amt_income_total,
  code_gender,
  CAST(floor(loan_amount * 1e6 + 0.5) AS BIGINT) AS amount_micro,
  CAST(
    year(loan_date) - year(birthday)
    - CASE
        WHEN month(loan_date) < month(birthday)
          OR (month(loan_date) = month(birthday) AND dayofmonth(loan_date) < dayofmonth(birthday))
        THEN 1 ELSE 0
      END
  AS INT) AS age
FROM raw_valid

-- name: feature_loan_days
-- One row per customer and loan date: same-day loans are one step of the history, so that they
-- never see each other (a loan sees only days strictly before its own).
CREATE OR REPLACE TEMPORARY VIEW feature_loan_days AS
SELECT
  id,
  loan_date,
  count(*) AS loans_that_day,
  sum(amount_micro) AS amount_micro_that_day
FROM feature_loans
GROUP BY id, loan_date

-- name: feature_history
-- For each customer and loan date: what was known strictly before that date.
CREATE OR REPLACE TEMPORARY VIEW feature_history AS
SELECT
  id,
  loan_date,
  coalesce(sum(loans_that_day) OVER earlier_days, 0) AS nb_previous_loans,
  coalesce(sum(amount_micro_that_day) OVER earlier_days, 0) AS amount_micro_previous,
  lag(loan_date) OVER (PARTITION BY id ORDER BY loan_date) AS previous_loan_date
FROM feature_loan_days
WINDOW earlier_days AS (PARTITION BY id ORDER BY loan_date ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)

-- name: features
-- One row per loan (the offline store). Whole years use anniversary semantics: the anniversary
-- day itself counts, and a 29 February anniversary falls on 1 March in non-leap years.
SELECT
  CAST(l.loan_id AS BIGINT) AS loan_id,
  CAST(l.id AS BIGINT) AS id,
  l.loan_date AS loan_date,
  CAST(l.status AS INT) AS status,
  CAST(h.nb_previous_loans AS INT) AS nb_previous_loans,
  CASE
    WHEN h.nb_previous_loans = 0 THEN CAST(NULL AS DOUBLE)
    ELSE (CAST(h.amount_micro_previous AS DOUBLE) / 1e6) / CAST(h.nb_previous_loans AS DOUBLE)
  END AS avg_amount_loans_previous,
  l.age AS age,
  CASE
    WHEN l.job_start_date IS NULL OR l.job_start_date > l.loan_date THEN CAST(NULL AS INT)
    ELSE CAST(
      year(l.loan_date) - year(l.job_start_date)
      - CASE
          WHEN month(l.loan_date) < month(l.job_start_date)
            OR (month(l.loan_date) = month(l.job_start_date) AND dayofmonth(l.loan_date) < dayofmonth(l.job_start_date))
          THEN 1 ELSE 0
        END
    AS INT)
  END AS years_on_the_job,
  CASE l.flag_own_car WHEN 'Y' THEN 1 WHEN 'N' THEN 0 ELSE CAST(NULL AS INT) END AS flag_own_car,
  CAST(l.loan_date - h.previous_loan_date AS INT) AS days_since_previous_loan,
  CAST(l.amt_income_total AS DOUBLE) AS amt_income_total,
  -- Protected attributes (catalog role "protected"): they travel with the row so fairness is
  -- measured on every model, and are never model inputs.
  CAST(l.code_gender AS STRING) AS code_gender,
  CASE
    WHEN l.age < 25 THEN '<25'
    WHEN l.age < 35 THEN '25-34'
    WHEN l.age < 45 THEN '35-44'
    WHEN l.age < 55 THEN '45-54'
    WHEN l.age < 65 THEN '55-64'
    ELSE '65+'
  END AS age_band
FROM feature_loans l
JOIN feature_history h ON h.id = l.id AND h.loan_date = l.loan_date

-- name: online
-- One row per customer (the online store): the aggregates over all of the customer's loans, the
-- same aggregates over the loans strictly before the last loan date (a new loan ON that date must
-- not see that day's loans), and the attributes of the customer's most recent loan (latest
-- loan_date, then highest loan_id), from which lib/features/online.ts computes the features of a
-- new loan on any request date.
SELECT
  CAST(t.id AS STRING) AS id,
  CAST(t.nb_loans AS INT) AS nb_loans,
  CAST(t.amount_micro_total AS DOUBLE) / 1e6 AS sum_loan_amount,
  r.loan_date AS last_loan_date,
  CAST(h.nb_previous_loans AS INT) AS nb_loans_before_last_date,
  CAST(h.amount_micro_previous AS DOUBLE) / 1e6 AS sum_loan_amount_before_last_date,
  h.previous_loan_date AS previous_loan_date,
  r.birthday AS birthday,
  r.job_start_date AS job_start_date,
  CASE r.flag_own_car WHEN 'Y' THEN 1 WHEN 'N' THEN 0 ELSE CAST(NULL AS INT) END AS flag_own_car,
  CAST(r.amt_income_total AS DOUBLE) AS amt_income_total
FROM (
  SELECT id, count(*) AS nb_loans, sum(amount_micro) AS amount_micro_total
  FROM feature_loans
  GROUP BY id
) t
JOIN (
  SELECT
    id, loan_date, birthday, job_start_date, flag_own_car, amt_income_total,
    row_number() OVER (PARTITION BY id ORDER BY loan_date DESC, loan_id DESC) AS recency
  FROM feature_loans
) r ON r.id = t.id AND r.recency = 1
JOIN feature_history h ON h.id = t.id AND h.loan_date = r.loan_date
